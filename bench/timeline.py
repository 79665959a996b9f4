"""Customer timeline benchmark: one customer with 10,000 events across every source, among others.

    .venv/bin/python bench/timeline.py [--events 10000] [--others 20000] [--repeat 50] [--seed 1]

Builds (once, cached by size and seed under ``$KEBU_DATA_DIR/bench/timeline`` or
``/tmp/kebu-bench/timeline``) a migrated SQLite database holding one customer whose history has
``--events`` records spread over orders, after-sales, contact records, tickets, feedback, survey answers,
follow-ups done and profile events, plus ``--others`` other customers with a few records each, so the
indexes hold more than the one customer. Rows are bulk-inserted: what is measured is reading.

Then, p50 / p95 in milliseconds over ``--repeat`` runs after two warm-ups:

- first page: ``customer_timeline`` (30 entries), as the customer page renders it;
- deep page: the page after the 3,000 newest entries (the cursor of a reader who pressed "older" 100
  times);
- filtered: contacts only;
- request: ``GET /timeline/customer/<id>/`` through Django's test client, logged in (middleware,
  session, view, template);
- naive baseline: every record of every source for the customer loaded, merged and sorted in Python,
  first 30 kept: what a timeline without a cursor per source would do.

Nothing is asserted; the figures are printed and written to ``bench/results/timeline-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def _setup(data_dir: Path) -> None:
    os.environ["KEBU_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kebu.settings")
    import django

    django.setup()


def _build(*, events: int, others: int, seed: int) -> int:
    """Fill the database; returns the measured customer's id."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from kebu.customers.models import Customer, CustomerEvent
    from kebu.engagement.models import (
        ContactRecord,
        Feedback,
        FollowUp,
        FollowUpStatus,
        Survey,
        SurveyInvitation,
        SurveyResponse,
        Ticket,
    )
    from kebu.orders.models import AfterSale, Order, Store

    call_command("migrate", verbosity=0, skip_checks=True)
    rng = random.Random(seed)
    get_user_model().objects.create_superuser(username="bench", password=None, display_name="bench")
    store = Store.objects.first() or Store.objects.create(name="bench")
    now = timezone.now()
    customers = Customer.objects.bulk_create(
        Customer(customer_no=f"B{i:07d}", name=f"客户{i}") for i in range(others + 1)
    )
    target, rest = customers[0], customers[1:]
    survey = Survey.objects.create(title="满意度")

    def when() -> datetime:
        return now - timedelta(seconds=rng.randrange(0, 3 * 365 * 86400))

    # The measured customer's history, in these shares.
    shares = {
        "order": 0.2,
        "aftersale": 0.05,
        "contact": 0.3,
        "ticket": 0.05,
        "feedback": 0.1,
        "survey": 0.05,
        "followup": 0.05,
        "profile": 0.2,
    }
    counts = {kind: int(events * share) for kind, share in shares.items()}

    def history(customer: Customer, counts: dict[str, int], start: int) -> None:
        orders = Order.objects.bulk_create(
            Order(order_no=f"O{start}-{i}", store=store, customer=customer, ordered_at=when())
            for i in range(max(counts["order"], 1 if counts["aftersale"] else 0))
        )
        AfterSale.objects.bulk_create(
            AfterSale(
                order=rng.choice(orders),
                customer=customer,
                kind="refund",
                reason="quality",
                requested_at=when(),
            )
            for _ in range(counts["aftersale"])
        )
        ContactRecord.objects.bulk_create(
            ContactRecord(
                customer=customer, channel="wechat", occurred_at=when(), summary="问了发货时间，已答复"
            )
            for _ in range(counts["contact"])
        )
        Ticket.objects.bulk_create(
            Ticket(
                number=f"T{start}-{i}",
                customer=customer,
                category="quality",
                subject="有异味",
                opened_at=(at := when()),
                first_response_due_at=at,
                due_at=at,
                first_due_at=at,
            )
            for i in range(counts["ticket"])
        )
        Feedback.objects.bulk_create(
            Feedback(customer=customer, rating=rng.randint(1, 5), comment="好用", reviewed_at=when())
            for _ in range(counts["feedback"])
        )
        invitations = SurveyInvitation.objects.bulk_create(
            SurveyInvitation(survey=survey, customer=customer, nonce="x", expires_at=now)
            for _ in range(counts["survey"])
        )
        SurveyResponse.objects.bulk_create(
            SurveyResponse(invitation=inv, survey=survey, customer=customer, submitted_at=when())
            for inv in invitations
        )
        FollowUp.objects.bulk_create(
            FollowUp(
                customer=customer,
                title="回访",
                due_on=(at := when()).date(),
                status=FollowUpStatus.DONE,
                done_at=at,
            )
            for _ in range(counts["followup"])
        )
        CustomerEvent.objects.bulk_create(
            CustomerEvent(customer=customer, kind="customer.updated", created_at=when())
            for _ in range(counts["profile"])
        )

    history(target, counts, 0)
    small = {kind: 0 for kind in counts} | {"order": 2, "contact": 2, "profile": 1}
    for i, customer in enumerate(rest, start=1):
        history(customer, small, i)
    return target.pk


def _ok(response):
    if response.status_code != 200:
        raise SystemExit(f"the timeline answered {response.status_code}")
    return response


def _timed(fn, repeat: int) -> tuple[float, float]:
    for _ in range(2):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, int(len(runs) * 0.95))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--others", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    data_root = os.environ.get("KEBU_DATA_DIR")
    base = (
        Path(data_root) / "bench" if data_root else Path(tempfile.gettempdir()) / "kebu-bench"
    ) / "timeline"
    data_dir = base / f"e{args.events}-o{args.others}-s{args.seed}"
    fresh = not (data_dir / "kebu.sqlite3").exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    _setup(data_dir)

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from kebu.accounts.roles import role_assign
    from kebu.customers.models import Customer
    from kebu.engagement.selectors.timeline import SOURCES, customer_timeline

    if fresh:
        started = time.perf_counter()
        customer_id = _build(events=args.events, others=args.others, seed=args.seed)
        print(f"built {data_dir} in {time.perf_counter() - started:.1f} s")
    else:
        customer_id = Customer.objects.order_by("pk").values_list("pk", flat=True).first()
    user = get_user_model().objects.get(username="bench")
    customer = Customer.objects.get(pk=customer_id)
    total = sum(source.rows(customer).count() for source in SOURCES)

    cursor = None
    for _ in range(100):
        cursor = customer_timeline(actor=user, customer=customer, cursor=cursor).next_cursor
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    # The page as a colleague who sees every customer without the owner's second step: an analyst.
    reader, _created = get_user_model().objects.get_or_create(
        username="bench-analyst", defaults={"display_name": "analyst"}
    )
    role_assign(user=reader, key="analyst")
    client = Client()
    client.force_login(reader)
    url = reverse("timeline:customer", args=[customer_id])

    def naive() -> list:
        rows = []
        for source in SOURCES:
            rows.extend((getattr(row, source.time_field), row) for row in source.rows(customer))
        rows.sort(key=lambda pair: pair[0] or datetime.min.replace(tzinfo=UTC), reverse=True)
        return rows[:30]

    cases = {
        "first page": lambda: customer_timeline(actor=user, customer=customer),
        "deep page (after 3,000)": lambda: customer_timeline(actor=user, customer=customer, cursor=cursor),
        "contacts only": lambda: customer_timeline(actor=user, customer=customer, kinds=["contact"]),
        "request (fragment)": lambda: _ok(client.get(url)),
        "naive: load all, sort": naive,
    }
    results = {}
    print(
        f"\none customer with {total:,} timeline records; {args.others:,} other customers; "
        f"p50 / p95 ms over {args.repeat} runs"
    )
    for name, fn in cases.items():
        p50, p95 = _timed(fn, args.repeat)
        results[name] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
        print(f"  {name:<26} {p50:8.1f} / {p95:8.1f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"timeline-{stamp}.json"
    out.write_text(json.dumps({"events": total, "others": args.others, "results": results}, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
