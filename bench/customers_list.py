"""Customer list benchmark: server time of /customers/ and of its selector, at 100k and 1M customers.

    .venv/bin/python bench/customers_list.py --customers 100000 [--customers 1000000] [--repeat 30]
        [--orders-per-customer 2]

For each size it builds (once, then reuses) a SQLite database with ``kebu migrate`` and ``kebu demo``
(the customers, then two orders a customer) under ``$KEBU_DATA_DIR/bench`` (or /tmp/kebu-bench), keyed
by size, orders and seed. The orders give the purchase figures something to sort and filter on. Each
size is measured in a child process of its own, because Django reads the database location once per
process.

Per scenario it prints p50/p95 of
- the full request through Django's test ``Client`` as a logged-in user (middleware, session,
  view, pagination count, template): skipped with a note when the HTML view does not exist yet;
- the selector alone: ``customer_list`` + one page sliced + ``list()`` (no count);
- the capped count of the same filtered queryset (at most COUNT_CAP rows), which the page also pays;
- for name searches, the naive baseline: ``LIKE '%…%'`` on the display columns (phone columns are
  encrypted and cannot be scanned; ``bench/encryption.py`` compares them with plain columns).
The table is printed and written as JSON to ``bench/results/`` (git-ignored), with the query plans.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAGE_SIZE = 25
KEBU = str(Path(sys.executable).parent / "kebu")

# (what the table prints, target p95 in ms at 1M on SQLite)
TARGET_LIST_MS = 100
TARGET_EXACT_MS = 20
TARGET_SEARCH_MS = 150


def _data_dir(base: Path, size: int, seed: int, orders: int) -> Path:
    return base / f"customers-{size}-orders{orders}-seed{seed}"


def _schema() -> list[str]:
    """The migrations a cached database was built with: a new one means the cache is stale."""
    return sorted(
        str(p.relative_to(ROOT / "src")) for p in (ROOT / "src" / "kebu").glob("*/migrations/0*.py")
    )


def _ensure_database(base: Path, size: int, seed: int, orders: int) -> Path:
    """The SQLite database for this size, orders and seed: built once with the product's own commands."""
    data_dir = _data_dir(base, size, seed, orders)
    done = data_dir / "bench-complete"
    if done.exists() and json.loads(done.read_text()).get("schema") == _schema():
        return data_dir
    if data_dir.exists():  # a half-built one from an interrupted run, or one of an older schema
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KEBU_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    print(f"Building the {size:,}-customer database in {data_dir} …", flush=True)
    # Fixed argv of the project's own command; no shell.
    subprocess.run([KEBU, "migrate", "--skip-checks", "-v0"], env=env, check=True)  # noqa: S603
    started = time.perf_counter()
    subprocess.run([KEBU, "demo", "--customers", str(size), "--seed", str(seed)], env=env, check=True)  # noqa: S603
    if orders:
        subprocess.run([KEBU, "demo", "--orders", str(orders), "--seed", str(seed)], env=env, check=True)  # noqa: S603
    done.write_text(
        json.dumps(
            {
                "size": size,
                "orders": orders,
                "seed": seed,
                "load_seconds": time.perf_counter() - started,
                "schema": _schema(),
            }
        )
    )
    return data_dir


# --- measuring, in the child process ----------------------------------------------------------------


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95_index = min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))
    return {"p50": statistics.median(ordered), "p95": ordered[p95_index], "n": len(ordered)}


def _timed(func: Any, repeat: int, warmup: int = 2) -> dict[str, float]:
    for _ in range(warmup):
        func()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


def _scenarios() -> list[dict[str, Any]]:
    """Scenarios with parameters taken from the data, so each search finds something."""
    from django.db.models.functions import Length

    from kebu.customers.models import Customer, Tag

    active = Customer.objects.filter(archived_at__isnull=True)
    top = active.order_by("-id").values_list("id", flat=True).first() or 0
    # A customer in the middle of the ledger, with a personal 3-character name and a phone.
    sample = (
        active.filter(id__lte=top // 2, customer_type="individual")
        .exclude(primary_phone="")
        .annotate(name_length=Length("name"))
        .filter(name_length=3)
        .order_by("-id")
        .values("name", "name_initials", "primary_phone", "city")
        .first()
    )
    if sample is None:
        raise SystemExit("No customers to benchmark; did the demo load run?")
    tag = Tag.objects.filter(name="需回访").values_list("id", flat=True).first()
    name_prefix = sample["name"][:2]  # surname + first character of the given name, e.g. 王秀
    initials = sample["name_initials"][:3]
    national = sample["primary_phone"].removeprefix("+86")
    last4 = national[-4:]
    return [
        {"key": "first_page", "title": "first page (newest)", "params": {}, "kind": "list"},
        {"key": "page_500", "title": "page 500", "params": {"page": "500"}, "kind": "list"},
        {"key": "sort_name", "title": "sort by name (pinyin)", "params": {"sort": "name"}, "kind": "list"},
        {
            "key": "filter_tag_city",
            "title": f"filter tag 需回访 + city {sample['city'] or '杭州市'}",
            "params": {"tag": [str(tag)], "city": sample["city"] or "杭州市"},
            "kind": "list",
        },
        # The purchase figures (issue: "sort and filter on every computed column"), each read off its
        # partial index; the last is the issue's own example.
        {
            "key": "sort_spent",
            "title": "sort by spent, most first",
            "params": {"sort": "-total_spent_cny"},
            "kind": "list",
        },
        {
            "key": "sort_last_order",
            "title": "sort by last order, oldest first",
            "params": {"sort": "last_order_at"},
            "kind": "list",
        },
        {
            "key": "sort_top_category",
            "title": "sort by top category",
            "params": {"sort": "top_category"},
            "kind": "list",
        },
        {
            "key": "filter_spent_lapsed",
            "title": "spent ≥ 2,000 and no order for 90 days",
            "params": {"spent_min": "2000", "days_since_last_order_min": "90"},
            "kind": "list",
        },
        {
            "key": "search_name",
            "title": f"search name prefix “{name_prefix}”",
            "params": {"q": name_prefix},
            "kind": "search",
            "baseline": ("name", name_prefix),
        },
        {
            "key": "search_initials",
            "title": f"search pinyin initials “{initials}”",
            "params": {"q": initials},
            "kind": "search",
            "baseline": ("name_initials", initials),
        },
        {
            "key": "search_last4",
            "title": f"search phone last 4 “{last4}”",
            "params": {"q": last4},
            "kind": "exact",
        },
        {
            "key": "search_phone",
            "title": f"search exact phone {national[:3]}…{last4}",
            "params": {"q": national},
            "kind": "exact",
        },
    ]


def _query_dict(params: dict[str, Any]) -> Any:
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for key, value in params.items():
        if isinstance(value, list):
            query.setlist(key, value)
        else:
            query[key] = value
    return query


def _explain(queryset: Any) -> str:
    from django.db import connection

    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
        return "\n".join(" | ".join(str(part) for part in row[1:]) for row in cursor.fetchall())


def bench_user() -> Any:
    """A colleague who sees every customer, their contact details and their purchases, without admin
    rights. Kebu asks such a colleague for the second login step: log in with ``bench_client``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user, _ = get_user_model().objects.get_or_create(
        username="bench_clerk", defaults={"display_name": "压测"}
    )
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="customers",
            codename__in=["view_customer", "view_all_customers", "view_contact"],
        ),
        # The purchase figures' sorts and filters are refused without it.
        Permission.objects.get(content_type__app_label="orders", codename="view_order"),
    )
    return user


def bench_client(user: Any) -> Any:
    """A test client logged in as ``user`` as after a real login, the second step passed: without it
    every page answers with a redirect to two-step verification, and a timing would measure that."""
    from django.test import Client

    from kebu.accounts.tests.otp_helpers import login_verified

    client = Client()
    login_verified(client, user)
    return client


def _measure(size: int, seed: int, repeat: int, data_dir: Path) -> dict[str, Any]:
    os.environ["KEBU_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kebu.settings")
    sys.path.insert(0, str(ROOT / "src"))
    import django

    django.setup()
    from django.conf import settings

    # As the test suite does: no collectstatic manifest needed, and the test client's host allowed.
    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    from kebu.core.pagination import COUNT_CAP
    from kebu.customers.filters import DEFAULT_ORDERING, sort_segments
    from kebu.customers.models import Customer
    from kebu.customers.selectors import customer_list, customer_list_page

    user = bench_user()
    client = bench_client(user)
    client_note = ""
    try:
        from django.urls import reverse

        url = reverse("customers:list")
        response = client.get(url)
        if response.status_code != 200:
            client_note = f"GET {url} answered {response.status_code}"
    except Exception as exc:  # the view is being written by someone else; say why and go on
        client_note = f"HTML view not measurable yet: {type(exc).__name__}: {str(exc)[:160]}"
    if client_note:
        print(f"  note: {client_note}; measuring the selector only.", flush=True)

    rows = []
    for scenario in _scenarios():
        params = _query_dict(scenario["params"])
        page = int(scenario["params"].get("page", "1"))
        offset = (page - 1) * PAGE_SIZE

        sort = scenario["params"].get("sort", DEFAULT_ORDERING)
        segmented = len(sort_segments(sort)) > 1

        def selector(
            params: Any = params,
            offset: int = offset,
            sort: str = sort,
            segmented: bool = segmented,
            page: int = page,
        ) -> None:
            qs, _ = customer_list(user=user, filters=params)
            if segmented:
                # As the page reads such a sort (the top category's, by name): a segment at a time,
                # each walking its index; that read counts too (capped), so the column includes it.
                customer_list_page(qs, sort=sort, page=page, per_page=PAGE_SIZE)
            else:
                list(qs[offset : offset + PAGE_SIZE])

        def count(params: Any = params) -> None:
            # What the list page pays: kebu.core.pagination counts up to COUNT_CAP rows, not all.
            qs, _ = customer_list(user=user, filters=params)
            qs.order_by()[: COUNT_CAP + 1].count()

        qs, _ = customer_list(user=user, filters=params)
        row: dict[str, Any] = {
            "key": scenario["key"],
            "title": scenario["title"],
            "kind": scenario["kind"],
            "params": scenario["params"],
            "found": qs.count(),
            "selector": _timed(selector, repeat),
            "selector_counts": segmented,
            "count": _timed(count, max(5, repeat // 3), warmup=1),
            "plan": _explain(qs[offset : offset + PAGE_SIZE]),
            "count_plan": _explain(qs.order_by().values("pk")[: COUNT_CAP + 1]),
        }
        if not client_note:
            url_with_query = f"{url}?{params.urlencode()}"

            def request(url_with_query: str = url_with_query) -> None:
                response = client.get(url_with_query)
                assert response.status_code == 200, response.status_code

            row["client"] = _timed(request, repeat)
        if "baseline" in scenario:
            column, value = scenario["baseline"]
            naive = Customer.objects.filter(archived_at__isnull=True, **{f"{column}__contains": value})
            if column.startswith("phones__"):
                naive = naive.distinct()
            naive = naive.order_by("-created_at", "-id")

            def baseline(naive: Any = naive) -> None:
                list(naive[:PAGE_SIZE])

            row["baseline"] = _timed(baseline, max(5, repeat // 3), warmup=1)
            row["baseline_plan"] = _explain(naive[:PAGE_SIZE])
        rows.append(row)
        print(f"  measured {scenario['key']}", flush=True)
    return {
        "size": size,
        "seed": seed,
        "repeat": repeat,
        "client_note": client_note,
        "rows": rows,
        "load": json.loads((data_dir / "bench-complete").read_text()),
    }


# --- reporting ---------------------------------------------------------------------------------------


def _target(kind: str) -> int:
    return {"list": TARGET_LIST_MS, "exact": TARGET_EXACT_MS, "search": TARGET_SEARCH_MS}[kind]


def _cell(stats: dict[str, float] | None) -> str:
    return f"{stats['p50']:8.1f} {stats['p95']:8.1f}" if stats else f"{'—':>8} {'—':>8}"


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"\n{result['size']:,} customers (seed {result['seed']}, {result['repeat']} runs; ms)",
        f"{'scenario':44} {'found':>8} | {'request':>8} {'':8} | {'selector':>8} {'':8} | "
        f"{'count':>8} {'':8} | {'LIKE %…%':>8} {'':8} | {'target':>6}",
        f"{'':44} {'':>8} | {'p50':>8} {'p95':>8} | {'p50':>8} {'p95':>8} | {'p50':>8} {'p95':>8} | "
        f"{'p50':>8} {'p95':>8} | {'p95':>6}",
    ]
    for row in result["rows"]:
        title = row["title"][:42] + (" *" if row.get("selector_counts") else "")
        lines.append(
            f"{title:44} {row['found']:>8,} | {_cell(row.get('client'))} | "
            f"{_cell(row['selector'])} | {_cell(row['count'])} | {_cell(row.get('baseline'))} | "
            f"{_target(row['kind']):>6}"
        )
    if any(row.get("selector_counts") for row in result["rows"]):
        lines.append(
            "* read a segment at a time, as the page reads it: its selector column includes the count"
        )
    if result["client_note"]:
        lines.append(f"request column skipped: {result['client_note']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, action="append", help="Database size; repeatable.")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--orders-per-customer", type=int, default=2, help="Orders loaded after the customers (0: none)."
    )
    parser.add_argument("--measure-one", type=int, help=argparse.SUPPRESS)  # the child's entry point
    args = parser.parse_args()
    data_root = os.environ.get("KEBU_DATA_DIR")
    base = Path(data_root) / "bench" if data_root else Path(tempfile.gettempdir()) / "kebu-bench"

    if args.measure_one:
        data_dir = _data_dir(base, args.measure_one, args.seed, args.measure_one * args.orders_per_customer)
        result = _measure(args.measure_one, args.seed, args.repeat, data_dir)
        print("RESULT " + json.dumps(result, ensure_ascii=False))
        return

    sizes = args.customers or [100_000]
    results = []
    for size in sizes:
        _ensure_database(base, size, args.seed, size * args.orders_per_customer)
        print(f"Measuring {size:,} customers …", flush=True)
        argv = [
            sys.executable,
            __file__,
            "--measure-one",
            str(size),
            "--seed",
            str(args.seed),
            "--orders-per-customer",
            str(args.orders_per_customer),
        ]
        completed = subprocess.run(  # noqa: S603
            [*argv, "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        )
        for line in completed.stdout.splitlines():
            if line.startswith("RESULT "):
                results.append(json.loads(line.removeprefix("RESULT ")))
            else:
                print(line)
        print(_table(results[-1]), flush=True)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "benchmark": "customers_list",
        "when": stamp,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "results": results,
    }
    path = RESULTS / f"customers_list-{stamp}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"\nWritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
