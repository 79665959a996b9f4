"""Demo follow-ups (回访): calls after the last month's deliveries (most of the past ones done, with what
the customer said; a few overdue), birthday care for the next ten days, credit falling due, and some
reminders staff wrote by hand, each for the customer's owner. Generated ones carry the key the plans
would give them, so the periodic task never makes them again. Bulk inserts: well under a second at
5,000 customers and 40,000 orders."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation

from kebu.customers.models import Customer
from kebu.engagement.models import FollowUp, FollowUpKind, FollowUpPlan, FollowUpStatus
from kebu.engagement.titles import reminder_title
from kebu.orders.models import Order, OrderStatus

MAX_DELIVERY_CALLS = 400
MAX_MANUAL = 120
OUTCOMES = (
    "已电话回访，客户很满意",
    "微信留言，客户说包装很好",
    "客户反馈物流有点慢，已致歉",
    "未接通，已发短信",
    "客户想了解新品，已推荐",
    "客户表示会再回购",
)
MANUAL_TITLES = (
    "确认尺码是否合适",
    "发送新品试用装",
    "提醒领取会员积分",
    "询问面霜使用感受",
    "邀请加入会员群",
    "跟进批发报价",
)


def demo_followups(*, rng: random.Random, now: datetime) -> int:
    today = timezone.localdate(now)
    plans = {p.kind: p for p in FollowUpPlan.objects.filter(is_active=True).order_by("-id")}
    rows: list[FollowUp] = []
    with transaction.atomic():
        rows += _after_delivery(rng, today, plans.get(FollowUpKind.AFTER_DELIVERY))
        rows += _birthdays(today, plans.get(FollowUpKind.BIRTHDAY))
        rows += _credit(today, plans.get(FollowUpKind.CREDIT_DUE))
        rows += _manual(rng, today, now)
        FollowUp.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    return len(rows)


def _titled(parts: dict[str, Any]) -> dict[str, Any]:
    """A reminder's title as the plans write it: kept in the shop's language, shown in the reader's."""
    with translation.override(settings.LANGUAGE_CODE):
        return {"title": reminder_title(parts)[:200], "title_parts": parts}


def _done(rng: random.Random, row: FollowUp, due: date) -> FollowUp:
    row.status = FollowUpStatus.DONE
    row.outcome = rng.choice(OUTCOMES)
    row.done_at = timezone.make_aware(datetime.combine(due, datetime.min.time())) + timedelta(
        hours=rng.randint(9, 20), minutes=rng.randint(0, 59)
    )
    row.done_by_id = row.assignee_id
    return row


def _after_delivery(rng: random.Random, today: date, plan: FollowUpPlan | None) -> list[FollowUp]:
    if plan is None:
        return []
    since = timezone.make_aware(datetime.combine(today - timedelta(days=30), datetime.min.time()))
    orders = (
        Order.objects.filter(delivered_at__gte=since, customer__archived_at__isnull=True)
        .exclude(status=OrderStatus.CANCELLED)
        .order_by("-delivered_at")
        .values_list("pk", "order_no", "delivered_at", "customer_id", "customer__owner_id")[
            :MAX_DELIVERY_CALLS
        ]
    )
    rows = []
    for pk, order_no, delivered_at, customer_id, owner_id in orders:
        due = timezone.localdate(delivered_at) + timedelta(days=plan.days)
        row = FollowUp(
            customer_id=customer_id,
            kind=plan.kind,
            plan=plan,
            key=f"after_delivery:{plan.pk}:{pk}",
            **_titled({"kind": "after_delivery", "plan": plan.name, "no": order_no}),
            due_on=due,
            assignee_id=owner_id,
            order_id=pk,
        )
        if due < today and rng.random() < 0.85:
            row = _done(rng, row, due)
        rows.append(row)
    return rows


def _birthdays(today: date, plan: FollowUpPlan | None) -> list[FollowUp]:
    if plan is None:
        return []
    rows = []
    wanted = {
        (d.month, d.day): d for d in (today + timedelta(days=n) for n in range(plan.days, plan.days + 10))
    }
    customers = Customer.objects.filter(
        archived_at__isnull=True, birthday__isnull=False, birthday_is_lunar=False
    ).values_list("pk", "birthday", "owner_id")
    for pk, birthday, owner_id in customers.iterator(chunk_size=5000):
        day = wanted.get((birthday.month, birthday.day))
        if day is None:
            continue
        rows.append(
            FollowUp(
                customer_id=pk,
                kind=plan.kind,
                plan=plan,
                key=f"birthday:{plan.pk}:{pk}:{day.year}",
                **_titled({"kind": "birthday", "plan": plan.name, "day": day.isoformat()}),
                due_on=day - timedelta(days=plan.days),
                assignee_id=owner_id,
            )
        )
    return rows


def _credit(today: date, plan: FollowUpPlan | None) -> list[FollowUp]:
    if plan is None:
        return []
    orders = Order.objects.filter(
        credit_outstanding_cny__gt=0,
        credit_due_date__gte=today,
        credit_due_date__lte=today + timedelta(days=plan.days + 7),
        customer__archived_at__isnull=True,
    ).values_list(
        "pk", "order_no", "credit_outstanding_cny", "credit_due_date", "customer_id", "customer__owner_id"
    )
    return [
        FollowUp(
            customer_id=customer_id,
            kind=plan.kind,
            plan=plan,
            key=f"credit_due:{plan.pk}:{pk}:{due.isoformat()}",
            **_titled(
                {
                    "kind": "credit_due",
                    "plan": plan.name,
                    "no": order_no,
                    "owed": str(owed),
                    "day": due.isoformat(),
                }
            ),
            due_on=max(today, due - timedelta(days=plan.days)),
            assignee_id=owner_id,
            order_id=pk,
        )
        for pk, order_no, owed, due, customer_id, owner_id in orders[:200]
    ]


def _manual(rng: random.Random, today: date, now: datetime) -> list[FollowUp]:
    owned = list(
        Customer.objects.filter(archived_at__isnull=True, owner__isnull=False)
        .order_by("-last_order_at", "-id")
        .values_list("pk", "owner_id")[:1000]
    )
    rows = []
    for pk, owner_id in rng.sample(owned, min(MAX_MANUAL, len(owned))):
        due = today + timedelta(days=rng.randint(-4, 10))
        row = FollowUp(
            customer_id=pk,
            kind=FollowUpKind.MANUAL,
            title=rng.choice(MANUAL_TITLES),
            due_on=due,
            assignee_id=owner_id,
            created_by_id=owner_id,
            created_at=now - timedelta(days=rng.randint(1, 20)),
        )
        if due < today and rng.random() < 0.5:
            row = _done(rng, row, due)
        if row.status == FollowUpStatus.OPEN and rng.random() < 0.1:
            row.snoozed_count = 1
        rows.append(row)
    return rows
