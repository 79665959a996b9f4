"""Insights benchmarks at 1M customers / 10M orders (SQLite): scores with CLV, the lifetimes package on the
same data, the dashboard's read path, and one run of each other analysis.

    .venv/bin/python bench/insights.py [--customers 1000000] [--orders 10000000] [--seed 1] [--repeat 30]
                                       [--baseline-repeat 5] [--sections scores,lifetimes,dashboard,others]

The dataset is bench/orders.py's (``_sqlite_dataset``: ``kebu demo --customers N`` then ``--orders M``,
built once under ``$KEBU_DATA_DIR/bench`` or /tmp/kebu-bench and reused); this script writes the insights
tables in it. A dataset built with other migrations is not rebuilt here (that takes ~15 minutes): the
script stops and says so, unless ``--rebuild-stale`` is given. Everything is measured in a child process
(Django reads the database location once per process); PostgreSQL is not measured.

1. Scores (target: RFM + CLV for 1M customers / 10M orders in 60 s on SQLite): ``insight_compute(kind=
   "scores")`` timed whole, with a timer around each step of ``services/scores.py`` and ``clv.py`` (the
   module functions are wrapped for the run, nothing in the product is changed) and every SQL statement
   timed through ``connection.execute_wrapper``. Prints the customers scored and the BG/NBD and
   Gamma-Gamma parameters stored in the run's result.
2. The same fits alone on the same arrays as the run (frequency = orders − 1, recency and age in days as
   ``scores._clv`` derives them, monetary = net spend ÷ orders): ``clv.bgnbd_fit`` and
   ``clv.gamma_gamma_fit``, then ``lifetimes``' ``BetaGeoFitter().fit`` and ``GammaGammaFitter().fit``,
   each in a child process with a time limit; the parameters side by side with their relative
   difference, and each set's log-likelihood under the same formula.
3. Dashboard (target: p95 ≤ 300 ms at 10M orders): ``dashboard_rebuild`` once (through
   ``insight_compute``), then p50/p95 over ``--repeat`` runs after two warm-ups of
   ``dashboard_figures`` and of the whole ``GET /insights/?…`` (test ``Client``, logged in) for the last
   7, 30, 90 and 366 days (the longest range the page allows), for a user who sees every customer and for
   the demo sales user with the most customers (their own and the shared pool). Beside them, the same
   range computed live from the orders: a plain GROUP BY by day of the counted orders the user may see,
   with the distinct customers (the current range only), and the project's sales summary
   (``orders.reports.sales_summary``), fewer runs (``--baseline-repeat``; 2 when one takes over 10 s).
4. One run each of the forecast, cohorts, baskets and clusters (``insight_compute``), each with a time
   limit.

The 1-minute load average is sampled every 5 s during each part (others share the machine). The table is
printed and the whole result written as JSON to ``bench/results/insights-<UTC time>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import customers_list as shared
import orders as orders_bench

ROOT = shared.ROOT
RESULTS = shared.RESULTS
TARGET_SCORES_S = 60.0
TARGET_DASHBOARD_P95_MS = 300.0
# (key, label, days, the page's preset or None for custom dates)
RANGES = (
    ("7d", "last 7 days", 7, "7d"),
    ("30d", "last 30 days", 30, "30d"),
    ("90d", "last 90 days", 90, "90d"),
    ("366d", "last 366 days", 366, None),
)
SECTIONS = ("scores", "lifetimes", "dashboard", "others")
OTHER_KINDS = ("forecast", "cohorts", "baskets", "clusters")
SLOW_BASELINE_S = 10.0


# --- the machine's load --------------------------------------------------------------------------------


class LoadSampler:
    """The 1-minute load average every ``every`` seconds, in a daemon thread; ``window`` gives the range
    seen between two moments."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)
        self._thread.start()

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), os.getloadavg()[0]))
            self._stop.wait(every)

    def window(self, start: float, end: float) -> dict[str, float]:
        seen = [load for at, load in self.samples if start <= at <= end] or [os.getloadavg()[0]]
        return {"min": round(min(seen), 2), "max": round(max(seen), 2)}

    @contextmanager
    def part(self, into: dict[str, Any]) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            into["load_1min"] = self.window(started, time.monotonic())


def _busiest() -> list[str]:
    """The processes using the most CPU right now (their command names only), to say who shared it."""
    try:
        out = subprocess.run(
            ["ps", "-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [" ".join(line.split()) for line in out.splitlines()[:6]]


# --- 1. scores, with a timer around each step -------------------------------------------------------------


class StepTimer:
    """Wraps module functions for the duration of a run and adds up their time by call path
    (``_clv/bgnbd_fit``), so that nested steps are not counted twice."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.order: dict[str, int] = {}  # path -> when it was first entered, to print in run order
        self.captured: dict[str, Any] = {}
        self._stack: list[str] = []

    def wrap(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if name == "_clv":  # the run's own inputs, for the fits of part 2
                self.captured["fig"], self.captured["now_s"] = args[0], kwargs["now_s"]
            self._stack.append(name)
            path = "/".join(self._stack)
            self.order.setdefault(path, len(self.order))
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[path] += time.perf_counter() - started
                self.calls[path] += 1
                self._stack.pop()

        return timed

    @contextmanager
    def patched(self, targets: list[tuple[Any, str]]) -> Iterator[None]:
        originals = [(module, name, getattr(module, name)) for module, name in targets]
        for module, name, func in originals:
            setattr(module, name, self.wrap(name, func))
        try:
            yield
        finally:
            for module, name, func in originals:
                setattr(module, name, func)


def _statement_kind(sql: str) -> str:
    words = sql.split()
    head = " ".join(words[:3]).upper()
    return head if head.startswith(("INSERT", "DELETE", "UPDATE")) else (words[0].upper() if words else "?")


def _scores(timer: StepTimer) -> dict[str, Any]:
    from django.db import connection

    from kebu.insights import clv
    from kebu.insights.models import CustomerScore
    from kebu.insights.services import scores
    from kebu.insights.services.runs import insight_compute

    statements: list[tuple[float, str, bool]] = []

    def timed_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - began, " ".join(sql.split())[:100], many))

    targets = [
        (scores, name)
        for name in (
            "_figures_read",
            "_tiers",
            "_clv",
            "_churn",
            "_credit_scores",
            "beats_pct",
            "_nullable",
            "_table_clear",
            "_rows_write",
            "_summary",
        )
    ] + [
        (clv, name)
        for name in (
            "bgnbd_fit",
            "bgnbd_p_alive",
            "bgnbd_expected_purchases",
            "gamma_gamma_fit",
            "gamma_gamma_expected_spend",
        )
    ]
    print("  insight_compute(kind='scores') …", flush=True)
    with timer.patched(targets), connection.execute_wrapper(timed_sql):
        started = time.perf_counter()
        run = insight_compute(kind="scores")
        seconds = time.perf_counter() - started
    result = run.result or {}
    by_kind: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for took, sql, _many in statements:
        entry = by_kind[_statement_kind(sql)]
        entry[0] += took
        entry[1] += 1
    top_level = sum(t for path, t in timer.seconds.items() if "/" not in path)
    out = {
        "seconds": seconds,
        "status": run.status,
        "message": run.message,
        "customers": result.get("customers"),
        "rows_written": CustomerScore.objects.count(),
        "bgnbd": (result.get("clv") or {}).get("bgnbd"),
        "gamma_gamma": (result.get("clv") or {}).get("gamma_gamma"),
        "clv_reason": (result.get("clv") or {}).get("reason"),
        "segments": result.get("segments"),
        "steps": {path: round(timer.seconds[path], 3) for path in sorted(timer.order, key=timer.order.get)},
        "step_calls": dict(timer.calls),
        # the rest: the arrays turned into lists and tuples, the commit, the run's own rows
        "outside_steps": round(seconds - top_level, 3),
        "sql_by_kind": {k: {"seconds": round(v[0], 3), "statements": v[1]} for k, v in by_kind.items()},
        "slow_statements": [(round(t, 2), sql) for t, sql, _m in statements if t >= 0.5],
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    print(
        f"  scores: {seconds:.1f} s, {out['customers']} customers, status {run.status} {run.message}",
        flush=True,
    )
    return out


# --- 2. the fits alone, and lifetimes -----------------------------------------------------------------------


def _fit_arrays(fig: Any, now_s: int) -> dict[str, Any]:
    """frequency, recency, age and monetary exactly as ``services.scores._clv`` derives them."""
    import numpy as np

    from kebu.insights.services.scores import SECONDS_PER_DAY

    frequency = (fig.orders - 1).astype(np.float64)
    recency = np.where(frequency > 0, (fig.last_s - fig.first_s) / SECONDS_PER_DAY, 0.0).clip(min=0.0)
    age = np.maximum((now_s - fig.first_s) / SECONDS_PER_DAY, recency)
    monetary = fig.spent_cents / 100.0 / fig.orders
    return {"frequency": frequency, "recency": recency, "age": age, "monetary": monetary}


def _ours(arrays: dict[str, Any], runs: int = 3) -> dict[str, Any]:
    from kebu.insights import clv

    f, r, t, m = arrays["frequency"], arrays["recency"], arrays["age"], arrays["monetary"]
    out: dict[str, Any] = {}
    for name, fit in (
        ("bgnbd", lambda: clv.bgnbd_fit(frequency=f, recency=r, age=t)),
        ("gamma_gamma", lambda: clv.gamma_gamma_fit(frequency=f, monetary=m)),
    ):
        times = []
        model = None
        for _ in range(runs):
            started = time.perf_counter()
            model = fit()
            times.append(time.perf_counter() - started)
        assert model is not None
        params = (
            {"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b}
            if name == "bgnbd"
            else {"p": model.p, "q": model.q, "v": model.v}
        )
        out[name] = {
            "seconds_median": statistics.median(times),
            "seconds_each": [round(x, 3) for x in times],
            "params": params,
            "log_likelihood": model.log_likelihood,
            "customers": model.customers,
        }
        print(f"  our {name} fit: {statistics.median(times):.2f} s (median of {runs}) {params}", flush=True)
    return out


def _lifetimes_child(model: str, npz: str) -> dict[str, Any]:
    """In a process of its own (run with a time limit): one lifetimes fit on the saved arrays."""
    import warnings

    import numpy as np

    started = time.perf_counter()
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes import __version__ as version

    out: dict[str, Any] = {"version": version, "import_seconds": time.perf_counter() - started}
    data = np.load(npz)
    f, r, t, m = data["frequency"], data["recency"], data["age"], data["monetary"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            started = time.perf_counter()
            if model == "bgnbd":
                fitter = BetaGeoFitter()
                fitter.fit(f, r, t)
            else:
                keep = (f > 0) & np.isfinite(m) & (m > 0)  # the customers our fit uses, as lifetimes asks
                fitter = GammaGammaFitter()
                fitter.fit(f[keep], m[keep])
            out["seconds"] = time.perf_counter() - started
            out["params"] = {str(k): float(v) for k, v in fitter.params_.items()}
        except Exception as exc:  # refused inputs, failed convergence: say what happened
            out["seconds"] = time.perf_counter() - started
            out["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    out["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:160]}" for w in caught})[:5]
    return out


def _lifetimes(arrays: dict[str, Any], timeout: float) -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kebu-bench-insights-") as scratch:
        npz = str(Path(scratch) / "arrays.npz")
        np.savez(npz, **arrays)
        for model in ("bgnbd", "gamma_gamma"):
            print(f"  lifetimes {model} fit (limit {timeout:.0f} s) …", flush=True)
            argv = [sys.executable, __file__, "--lifetimes-fit", model, "--npz", npz]
            started = time.perf_counter()
            try:
                completed = subprocess.run(  # noqa: S603 (this script, fixed arguments)
                    argv, capture_output=True, text=True, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired:
                out[model] = {"error": f"no answer within {timeout:.0f} s (stopped)", "seconds": timeout}
                print(f"  lifetimes {model}: {out[model]['error']}", flush=True)
                continue
            found = [ln for ln in completed.stdout.splitlines() if ln.startswith("RESULT ")]
            if completed.returncode != 0 or not found:
                out[model] = {
                    "error": f"exit {completed.returncode}: {completed.stderr.strip()[-400:]}",
                    "seconds": time.perf_counter() - started,
                }
            else:
                out[model] = json.loads(found[-1].removeprefix("RESULT "))
            shown = out[model].get("params") or out[model].get("error")
            print(f"  lifetimes {model}: {out[model].get('seconds', 0):.2f} s {shown}", flush=True)
    return out


def _compare(arrays: dict[str, Any], ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Relative differences of the parameters, and both sets' log-likelihood by the same formula."""
    import numpy as np

    from kebu.insights import clv

    f, r, t, m = arrays["frequency"], arrays["recency"], arrays["age"], arrays["monetary"]
    keep = (f > 0) & np.isfinite(m) & (m > 0)

    def log_likelihood(model: str, params: dict[str, float]) -> float:
        if model == "bgnbd":
            return float(clv.bgnbd_log_likelihood(**params, frequency=f, recency=r, age=t).sum())
        return float(clv.gamma_gamma_log_likelihood(**params, frequency=f[keep], monetary=m[keep]).sum())

    out: dict[str, Any] = {}
    for model in ("bgnbd", "gamma_gamma"):
        mine, other = ours[model]["params"], (theirs.get(model) or {}).get("params")
        if not other:
            out[model] = {"agree": None}
            continue
        diffs = {k: abs(other[k] - v) / abs(v) for k, v in mine.items()}
        out[model] = {
            "relative_difference": diffs,
            "max_relative_difference": max(diffs.values()),
            "agree": max(diffs.values()) < 0.01,
            "log_likelihood_ours": log_likelihood(model, mine),
            "log_likelihood_lifetimes": log_likelihood(model, other),
        }
    return out


def _fits(captured: dict[str, Any], timeout: float) -> dict[str, Any]:
    import numpy as np

    from kebu.insights import clv
    from kebu.insights.services import scores

    if "fig" in captured:
        fig, now_s = captured["fig"], captured["now_s"]
        source = "the scores run's own arrays"
    else:
        from django.utils import timezone

        fig, now_s = scores._figures_read(), int(timezone.now().timestamp())
        source = "read again (scores not run in this invocation)"
    arrays = _fit_arrays(fig, now_s)
    f = arrays["frequency"]
    scale = float(arrays["age"].mean())
    _columns, weights = clv._compress(f, arrays["recency"] / scale, arrays["age"] / scale)
    shape = {
        "source": source,
        "customers": int(f.size),
        "repeaters": int(np.count_nonzero(f)),
        "distinct_histories": int(weights.size),
        "mean_age_days": round(scale, 1),
        "max_frequency": int(f.max()) if f.size else 0,
    }
    print(f"  fit inputs: {shape}", flush=True)
    ours = _ours(arrays)
    theirs = _lifetimes(arrays, timeout)
    return {"inputs": shape, "ours": ours, "lifetimes": theirs, "compare": _compare(arrays, ours, theirs)}


# --- 3. the dashboard ---------------------------------------------------------------------------------------


def _users() -> dict[str, Any]:
    """A superuser (the selector's "sees everything"), a staff member in the admin role with a confirmed
    authenticator (the request's: an admin must pass two-step verification), and the demo sales user
    with the most customers."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from kebu.accounts.roles import role_assign, role_group
    from kebu.customers.models import Customer

    user_model = get_user_model()
    owner, _ = user_model.objects.get_or_create(
        username="bench_insights_owner",
        defaults={"display_name": "压测店主", "is_superuser": True, "is_staff": True},
    )
    admin, _ = user_model.objects.get_or_create(
        username="bench_insights_admin", defaults={"display_name": "压测管理员"}
    )
    role_assign(user=admin, key="admin")
    device, _ = TOTPDevice.objects.get_or_create(user=admin, name="bench", defaults={"confirmed": True})
    sellers = user_model.objects.filter(groups=role_group("sales"), is_superuser=False, is_active=True)
    ranked = (
        Customer.objects.filter(owner__in=sellers, archived_at__isnull=True)
        .values("owner")
        .annotate(n=Count("id"))
        .order_by("-n")
    )
    top = ranked.first()
    if top is None:
        raise SystemExit("No sales user owns customers in this dataset; was it built with `kebu demo`?")
    sales = user_model.objects.get(pk=top["owner"])
    return {"owner": owner, "admin": admin, "device": device, "sales": sales, "sales_owned": top["n"]}


def _range(days: int, preset: str | None) -> tuple[Any, Any]:
    from kebu.insights.selectors.dashboard import preset_range, shop_today

    if preset:
        return preset_range(preset)
    today = shop_today()
    return today - timedelta(days=days - 1), today


def _live_group_by(user: Any, date_from: Any, date_to: Any) -> dict[str, Any]:
    """The range's sales by shop day and its distinct customers, straight from the counted orders the user
    may see (``orders.reports.sales_orders``): two queries, the current range only."""
    from django.db.models import CharField, Count, F, Func, Sum, Value

    from kebu.insights.services.dashboard import day_start
    from kebu.orders.reports import sales_orders

    offset = int(day_start(date_to).utcoffset().total_seconds())  # type: ignore[union-attr]
    orders = sales_orders(user=user, date_from=date_from, date_to=date_to).order_by()
    day = Func(F("ordered_at"), Value(f"{offset:+d} seconds"), function="date", output_field=CharField())
    rows = list(
        orders.annotate(day=day)
        .values("day")
        .annotate(n=Count("id"), gross=Sum("paid_cny"), refunds=Sum("refunded_cny"))
        .order_by("day")
    )
    buyers = orders.aggregate(n=Count("customer_id", distinct=True))["n"]
    # SQLite sums the decimal columns as binary floating point (28293169.7299999 for ¥28,293,169.73 over
    # a month of a million-order shop): each day's sum is rounded to the cent, as orders.reports does.
    cent = Decimal("0.01")
    return {
        "days": len(rows),
        "orders": sum(r["n"] for r in rows),
        "net_cny": str(
            sum(
                (
                    Decimal(r["gross"]).quantize(cent, ROUND_HALF_UP)
                    - Decimal(r["refunds"]).quantize(cent, ROUND_HALF_UP)
                )
                for r in rows
            )
            if rows
            else Decimal("0.00")
        ),
        "buyers": buyers,
    }


def _timed_adaptive(func: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """One warm-up (timed too), then ``repeat`` runs, or one more when the warm-up took over 10 s."""
    started = time.perf_counter()
    func()
    first = (time.perf_counter() - started) * 1000
    runs = repeat if first < SLOW_BASELINE_S * 1000 else 1
    samples = [first] if runs == 1 else []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return shared._percentiles(samples)


def _dashboard(args: argparse.Namespace, sampler: LoadSampler) -> dict[str, Any]:
    from django.test import Client
    from django.urls import reverse
    from django_otp import DEVICE_ID_SESSION_KEY

    from kebu.customers.selectors import customer_visible_queryset
    from kebu.insights.selectors.dashboard import (
        DashboardFilters,
        auto_grain,
        dashboard_figures,
        dashboard_owner_scope,
    )
    from kebu.insights.services.runs import insight_compute
    from kebu.orders.reports import sales_summary

    out: dict[str, Any] = {}
    print("  dashboard_rebuild (insight_compute(kind='dashboard')) …", flush=True)
    rebuild: dict[str, Any] = {}
    with sampler.part(rebuild):
        started = time.perf_counter()
        run = insight_compute(kind="dashboard")
        rebuild.update(seconds=time.perf_counter() - started, status=run.status, message=run.message)
        rebuild["result"] = run.result
    out["rebuild"] = rebuild
    print(f"  rebuild: {rebuild['seconds']:.1f} s {run.status} {run.result}", flush=True)

    people = _users()
    sales = people["sales"]
    scope = dashboard_owner_scope(user=sales)
    out["users"] = {
        "owner": f"{people['owner'].username} (superuser: every customer)",
        "admin": f"{people['admin'].username} (admin role, verified with an authenticator: every customer)",
        "sales": f"{sales.username} (owns {people['sales_owned']:,} customers)",
        "sales_scope": {"owners": sorted(scope.owner_ids), "pool": scope.pool},
        "sales_sees_customers": customer_visible_queryset(user=sales).count(),
    }
    print(f"  users: {out['users']}", flush=True)

    clients: dict[str, Any] = {}
    for key, user in (("owner", people["admin"]), ("sales", sales)):
        client: Any = Client()
        client.force_login(user)
        if key == "owner":
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = people["device"].persistent_id
            session.save()
        clients[key] = client
    url = reverse("insights:dashboard")

    rows = []
    for key, label, days, preset in RANGES:
        date_from, date_to = _range(days, preset)
        filters = DashboardFilters(date_from=date_from, date_to=date_to, grain=auto_grain(date_from, date_to))
        query = (
            f"preset={preset}"
            if preset
            else f"preset=custom&date_from={date_from.isoformat()}&date_to={date_to.isoformat()}"
        )
        row: dict[str, Any] = {
            "key": key,
            "label": label,
            "date_from": str(date_from),
            "date_to": str(date_to),
            "grain": filters.grain,
            "query": query,
        }
        with sampler.part(row):
            for who, user in (("owner", people["owner"]), ("sales", sales)):
                figures = dashboard_figures(user=user, filters=filters)
                row[f"{who}_orders"] = figures.totals.orders
                row[f"{who}_net_cny"] = str(figures.totals.net_cny)
                row[f"{who}_buyers"] = figures.buyers.buyers
                row[f"{who}_selector"] = shared._timed(
                    lambda user=user, filters=filters: dashboard_figures(user=user, filters=filters),
                    args.repeat,
                )

                def request(who: str = who, query: str = query) -> None:
                    response = clients[who].get(f"{url}?{query}")
                    assert response.status_code == 200, (who, response.status_code)

                row[f"{who}_request"] = shared._timed(request, args.repeat)
                live = _live_group_by(user, date_from, date_to)
                row[f"{who}_live"] = live
                row[f"{who}_live_agrees"] = (
                    live["orders"] == figures.totals.orders
                    and Decimal(live["net_cny"]) == figures.totals.net_cny
                    and live["buyers"] == figures.buyers.buyers
                )
                row[f"{who}_group_by"] = _timed_adaptive(
                    lambda user=user, first=date_from, last=date_to: _live_group_by(user, first, last),
                    args.baseline_repeat,
                )
            row["owner_sales_summary"] = _timed_adaptive(
                lambda first=date_from, last=date_to: sales_summary(
                    user=people["owner"], date_from=first, date_to=last
                ),
                args.baseline_repeat,
            )
        print(
            f"  {label}: owner selector {row['owner_selector']} request {row['owner_request']}; "
            f"sales selector {row['sales_selector']} request {row['sales_request']}; "
            f"GROUP BY {row['owner_group_by']['p50']:.0f} ms, sales summary "
            f"{row['owner_sales_summary']['p50']:.0f} ms; agree {row['owner_live_agrees']}/"
            f"{row['sales_live_agrees']}",
            flush=True,
        )
        rows.append(row)
    out["ranges"] = rows
    return out


# --- 4. the other analyses ----------------------------------------------------------------------------------


class _TimeLimit(Exception):
    pass


def _others(limit: int, sampler: LoadSampler) -> dict[str, Any]:
    from kebu.insights.services.runs import insight_compute

    def stop(_signum: int, _frame: Any) -> None:
        raise _TimeLimit(f"stopped by the bench after {limit} s")

    out: dict[str, Any] = {}
    previous = signal.signal(signal.SIGALRM, stop)
    try:
        for kind in OTHER_KINDS:
            print(f"  insight_compute(kind={kind!r}) …", flush=True)
            entry: dict[str, Any] = {}
            with sampler.part(entry):
                signal.alarm(limit)
                started = time.perf_counter()
                try:
                    run = insight_compute(kind=kind)
                finally:
                    signal.alarm(0)
                entry.update(
                    seconds=time.perf_counter() - started,
                    status=run.status,
                    message=run.message,
                    result_keys=sorted(run.result or {}),
                    timed_out=str(limit) in (run.message or "") and "stopped by the bench" in run.message,
                )
            out[kind] = entry
            print(f"  {kind}: {entry['seconds']:.1f} s {run.status} {run.message[:160]}", flush=True)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return out


# --- the child process --------------------------------------------------------------------------------------


def _measure(data_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    orders_bench._django(data_dir, None)
    from django.conf import settings
    from django.db import connection

    # As the test suite does: no collectstatic manifest needed, and the test client's host allowed.
    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    sections = set(args.sections.split(","))
    sampler = LoadSampler()
    result: dict[str, Any] = {
        "vendor": connection.vendor,
        "sqlite": sqlite3.sqlite_version,
        "busiest_at_start": _busiest(),
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM orders_order")
        result["orders"] = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM customers_customer")
        result["customers"] = cursor.fetchone()[0]
    timer = StepTimer()
    if "scores" in sections:
        part: dict[str, Any] = {}
        with sampler.part(part):
            part.update(_scores(timer))
        result["scores"] = part
    if "lifetimes" in sections:
        part = {}
        with sampler.part(part):
            part.update(_fits(timer.captured, args.lifetimes_timeout))
        result["fits"] = part
    if "dashboard" in sections:
        part = {}
        with sampler.part(part):
            part.update(_dashboard(args, sampler))
        result["dashboard"] = part
    if "others" in sections:
        result["others"] = _others(args.other_timeout, sampler)
    result["busiest_at_end"] = _busiest()
    result["load_samples"] = [round(load, 2) for _at, load in sampler.samples]
    return result


# --- reporting ----------------------------------------------------------------------------------------------


def _verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "MISS"


def _load(part: dict[str, Any]) -> str:
    load = part.get("load_1min")
    return f"{load['min']:.1f}–{load['max']:.1f}" if load else ""


def _ms(stats: dict[str, Any] | None) -> str:
    if not stats:
        return f"{'—':>17}"
    return f"{stats['p50']:8.1f} {stats['p95']:8.1f}"


def _report(results: dict[str, Any]) -> str:
    run = results["run"]
    out = [
        f"\n{run['customers']:,} customers, {run['orders']:,} orders, SQLite {run['sqlite']} "
        f"(seed {results['dataset']['seed']})"
    ]
    if scores := run.get("scores"):
        out.append(f"\n{'RFM + CLV for every customer':58} {'value':>12} {'target':>8} {'':5} {'load':>9}")
        out.append(
            f"{'insight_compute(kind=scores), whole run':58} {scores['seconds']:10.1f} s "
            f"{TARGET_SCORES_S:6.0f} s {_verdict(scores['seconds'], TARGET_SCORES_S):5} {_load(scores):>9}"
        )
        out.append(f"{'  customers scored (rows written)':58} {scores['customers'] or 0:12,} ")
        if scores["status"] != "done" or scores["message"]:
            out.append(f"  status {scores['status']}: {scores['message']}")
        out.append("  where the time goes (s):")
        for path, seconds in scores["steps"].items():
            depth = path.count("/")
            name = path.rsplit("/", 1)[-1]
            calls = scores["step_calls"].get(path, 1)
            shown = f"{name}" + (f" ×{calls}" if calls > 1 else "")
            out.append(f"    {'  ' * depth}{shown:{54 - 2 * depth}} {seconds:8.2f}")
        outside = "outside those (lists and tuples, commit, run rows)"
        out.append(f"    {outside:54} {scores['outside_steps']:8.2f}")
        for kind, sql in sorted(scores["sql_by_kind"].items(), key=lambda kv: -kv[1]["seconds"]):
            label = f"SQL {kind} ({sql['statements']:,} statements)"
            out.append(f"    {label:54} {sql['seconds']:8.2f}")
        bg, gg = scores.get("bgnbd"), scores.get("gamma_gamma")
        if bg:
            out.append(
                f"  BG/NBD (days): r={bg['r']:.4f} α={bg['alpha']:.3f} a={bg['a']:.4f} b={bg['b']:.4f} "
                f"over {bg['customers']:,}"
            )
        if gg:
            out.append(
                f"  Gamma-Gamma (¥): p={gg['p']:.4f} q={gg['q']:.4f} v={gg['v']:.2f} "
                f"over {gg['customers']:,} repeat customers; mean spend ¥{gg['mean_spend_cny']}"
            )
        if scores.get("clv_reason"):
            out.append(f"  CLV: {scores['clv_reason']}")
    if fits := run.get("fits"):
        inputs = fits["inputs"]
        out.append(
            f"\nCLV fits alone on the run's arrays ({inputs['customers']:,} customers, "
            f"{inputs['repeaters']:,} repeaters, {inputs['distinct_histories']:,} distinct histories)"
        )
        out.append(f"{'':14} {'param':>6} {'Kebu':>14} {'lifetimes':>14} {'rel. diff':>10}")
        for model, title in (("bgnbd", "BG/NBD"), ("gamma_gamma", "Gamma-Gamma")):
            ours = fits["ours"][model]
            theirs = fits["lifetimes"].get(model) or {}
            compare = fits["compare"].get(model) or {}
            for name, value in ours["params"].items():
                other = (theirs.get("params") or {}).get(name)
                diff = (compare.get("relative_difference") or {}).get(name)
                out.append(
                    f"{title:14} {name:>6} {value:14.6f} "
                    f"{(f'{other:14.6f}' if other is not None else '—'):>14} "
                    f"{(f'{diff:10.2e}' if diff is not None else '—'):>10}"
                )
                title = ""
            lt_seconds = theirs.get("seconds")
            out.append(
                f"{'':14} {'time':>6} {ours['seconds_median']:12.2f} s "
                f"{(f'{lt_seconds:12.2f} s' if lt_seconds is not None else '—'):>14}"
            )
            if compare.get("log_likelihood_lifetimes") is not None:
                out.append(
                    f"{'':14} {'LL':>6} {compare['log_likelihood_ours']:14.1f} "
                    f"{compare['log_likelihood_lifetimes']:14.1f}   agree (<1%): {compare['agree']}"
                )
            if theirs.get("error"):
                out.append(f"{'':14} lifetimes: {theirs['error']}")
    if dash := run.get("dashboard"):
        rebuild = dash["rebuild"]
        out.append(
            f"\ndashboard_rebuild: {rebuild['seconds']:.1f} s ({rebuild['status']}; "
            f"{(rebuild.get('result') or {}).get('rows', '?')} sales rows, load {_load(rebuild)})"
        )
        users = dash["users"]
        out.append(f"users: {users['sales']}, sees {users['sales_sees_customers']:,} customers")
        head = (
            f"{'dashboard, p50 / p95 ms':24} {'owner figures':>17} {'owner request':>17} "
            f"{'sales figures':>17} {'sales request':>17} {'live GROUP BY':>17} {'sales summary':>17} "
            f"{'target':>6} {'load':>8}"
        )
        out.append(head)
        for row in dash["ranges"]:
            worst = max(row[f"{w}_{k}"]["p95"] for w in ("owner", "sales") for k in ("selector", "request"))
            out.append(
                f"{row['label']:24} {_ms(row['owner_selector'])} {_ms(row['owner_request'])} "
                f"{_ms(row['sales_selector'])} {_ms(row['sales_request'])} {_ms(row['owner_group_by'])} "
                f"{_ms(row['owner_sales_summary'])} {TARGET_DASHBOARD_P95_MS:6.0f} {_load(row):>8} "
                f"{_verdict(worst, TARGET_DASHBOARD_P95_MS)}"
            )
        for row in dash["ranges"]:
            out.append(
                f"  {row['label']}: owner {row['owner_orders']:,} orders, {row['owner_buyers']:,} customers; "
                f"sales {row['sales_orders']:,} / {row['sales_buyers']:,}; sales GROUP BY "
                f"{_ms(row['sales_group_by']).strip()} ms; equal to the live GROUP BY: "
                f"{row['owner_live_agrees']} / {row['sales_live_agrees']}"
            )
    if others := run.get("others"):
        out.append("\nother analyses, one run each (insight_compute)")
        for kind, entry in others.items():
            message = f" — {entry['message'][:90]}" if entry["message"] else ""
            out.append(
                f"  {kind:10} {entry['seconds']:8.1f} s  {entry['status']}{message}  load {_load(entry)}"
            )
    return "\n".join(out)


# --- the dataset and the parent -----------------------------------------------------------------------------


def _dataset(base: Path, args: argparse.Namespace) -> Path:
    """bench/orders.py's dataset, refusing to rebuild one of older migrations unless asked: it takes
    ~15 minutes and other benches share it."""
    data_dir = base / f"orders-{args.customers}-{args.orders}-seed{args.seed}"
    done = data_dir / "bench-complete"
    stale = done.exists() and json.loads(done.read_text()).get("schema") != shared._schema()
    if stale and not args.rebuild_stale:
        raise SystemExit(
            f"{data_dir} was built with other migrations. bench/orders.py (or this script with "
            "--rebuild-stale) rebuilds it, which takes ~15 minutes."
        )
    return orders_bench._sqlite_dataset(base, args.customers, args.orders, args.seed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=30, help="dashboard runs per case, after 2 warm-ups")
    parser.add_argument("--baseline-repeat", type=int, default=5, help="runs of each live baseline")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help="a comma-separated subset of " + ", ".join(SECTIONS)
    )
    parser.add_argument("--lifetimes-timeout", type=float, default=900.0, help="seconds per lifetimes fit")
    parser.add_argument("--other-timeout", type=int, default=1800, help="seconds per other analysis")
    parser.add_argument("--rebuild-stale", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    parser.add_argument("--lifetimes-fit", choices=["bgnbd", "gamma_gamma"], help=argparse.SUPPRESS)
    parser.add_argument("--npz", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = set(args.sections.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    if args.lifetimes_fit:
        print("RESULT " + json.dumps(_lifetimes_child(args.lifetimes_fit, args.npz)))
        return
    if args.measure:
        result = _measure(Path(args.data_dir), args)
        print("RESULT " + json.dumps(result, ensure_ascii=False, default=str))
        return

    data_root = os.environ.get("KEBU_DATA_DIR")
    base = Path(data_root) / "bench" if data_root else Path(tempfile.gettempdir()) / "kebu-bench"
    data_dir = _dataset(base, args)
    results: dict[str, Any] = {"dataset": json.loads((data_dir / "bench-complete").read_text())}
    results["dataset"].pop("schema", None)

    print(f"Measuring on SQLite ({data_dir}) …", flush=True)
    argv = [sys.executable, __file__, "--measure", "--data-dir", str(data_dir)]
    argv += ["--repeat", str(args.repeat), "--baseline-repeat", str(args.baseline_repeat)]
    argv += ["--sections", args.sections, "--lifetimes-timeout", str(args.lifetimes_timeout)]
    argv += ["--other-timeout", str(args.other_timeout)]
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    started = time.perf_counter()
    # The child's lines are shown as they come: the whole run takes a quarter of an hour or more.
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env) as child:  # noqa: S603
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("RESULT "):
                results["run"] = json.loads(line.removeprefix("RESULT "))
            else:
                print(line, end="", flush=True)
    if child.returncode != 0 or "run" not in results:
        raise SystemExit(f"the measuring process failed (exit {child.returncode})")
    results["wall_seconds"] = round(time.perf_counter() - started, 1)

    print(_report(results), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "benchmark": "insights",
        "when": stamp,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "results": results,
    }
    path = RESULTS / f"insights-{stamp}.json"
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str))
    print(f"\nWritten to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
