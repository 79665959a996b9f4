"""Demo tickets and complaints (工单/投诉): about one paid order in fifty over the last year (one in eight
of the last month's) draws a ticket a few days after it was placed, most of them complaints about
quality or delivery, a few about price, attitude or after-sales, with the items concerned. The older
ones are resolved and closed (with a satisfaction score when the customer answered); the last weeks'
are still new, in progress or waiting, a quarter of them past their due time. Each has its history
(opened, the steps, a note) and, when the order had a return or refund, the after-sale linked. Times
follow the shop's service levels. Bulk inserts, numbers from the ticket sequence: well under a second
at 40,000 orders."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from kebu.core.services import sequence_next
from kebu.engagement.models import SlaPolicy, Ticket, TicketEvent, TicketResult, TicketStatus
from kebu.engagement.selectors.tickets import ticket_assignees
from kebu.engagement.services.tickets import (
    FALLBACK_FIRST_RESPONSE_HOURS,
    FALLBACK_RESOLUTION_HOURS,
    TICKET_NO_SEQUENCE,
    ticket_no_format,
)
from kebu.orders.models import COUNTED_STATUSES, AfterSale, Order, OrderLine

SHARE = 0.02  # of the paid orders of the last year
# The last month's orders draw more tickets, so that the queues have open work in them.
RECENT_DAYS = 30
RECENT_SHARE = 0.12
DAYS_BACK = 365
MAX_TICKETS = 2000
# (category, weight, subjects, resolutions): what buyers of a cosmetics-and-tea shop complain about.
CATEGORIES: tuple[tuple[str, int, tuple[str, ...], tuple[tuple[str, str], ...]], ...] = (
    (
        "quality",
        35,
        ("面霜有异味", "乳液质地变稀", "茶叶受潮结块", "瓶盖漏液", "用后过敏发红", "生产日期太久"),
        (("refund", "核实后全额退款"), ("exchange", "换一瓶新批次"), ("return", "退货退款")),
    ),
    (
        "logistics",
        30,
        ("快递五天还没到", "包裹破损", "少发了一件", "发错颜色", "快递员态度差没送上楼"),
        (("resend", "补发缺少的商品"), ("compensation", "送10元优惠券致歉"), ("explained", "已联系快递加急")),
    ),
    (
        "price",
        12,
        ("刚买就降价要求补差价", "优惠券没用上", "满减没算对"),
        (("compensation", "补差价到支付宝"), ("explained", "解释活动规则，顾客理解")),
    ),
    (
        "attitude",
        8,
        ("客服回复太慢", "客服语气不好"),
        (("compensation", "主管致电道歉并送小样"), ("explained", "道歉并说明情况")),
    ),
    (
        "aftersale",
        10,
        ("退款一直没到账", "退货地址不对", "换货还没发出"),
        (("refund", "已加急退款"), ("resend", "换货已发出")),
    ),
    ("other", 5, ("想开发票", "咨询会员积分没到账"), (("explained", "已说明并处理"),)),
)
NOTES = ("已联系顾客，请她拍照", "顾客已发来照片", "已和仓库核实", "已报快递公司查件", "顾客同意处理方案")
SATISFACTION = ((5, 40), (4, 30), (3, 15), (2, 8), (1, 7))


def _pick(rng: random.Random, weighted: Any) -> Any:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


@transaction.atomic
def demo_tickets(*, rng: random.Random, now: datetime) -> int:
    """Add the demo tickets with their lines, history and after-sale links; returns the rows made."""
    staff = list(ticket_assignees().values_list("pk", flat=True))
    if not staff:
        return 0
    hours = {p.category: (p.first_response_hours, p.resolution_hours) for p in SlaPolicy.objects.all()}
    orders = list(
        Order.objects.filter(status__in=COUNTED_STATUSES, ordered_at__gte=now - timedelta(days=DAYS_BACK))
        .values_list("pk", "customer_id", "customer__owner_id", "ordered_at")
        .order_by("pk")
    )
    recent_from = now - timedelta(days=RECENT_DAYS)
    older = [row for row in orders if row[3] < recent_from]
    recent = [row for row in orders if row[3] >= recent_from]
    chosen = rng.sample(older, min(MAX_TICKETS, round(len(older) * SHARE)))
    chosen += rng.sample(recent, min(MAX_TICKETS, round(len(recent) * RECENT_SHARE)))
    chosen.sort(key=lambda row: row[3])
    if not chosen:
        return 0
    lines: dict[int, list[int]] = defaultdict(list)
    for line_id, order_id in OrderLine.objects.filter(order_id__in=[c[0] for c in chosen]).values_list(
        "pk", "order_id"
    ):
        lines[order_id].append(line_id)

    first_number = sequence_next(name=TICKET_NO_SEQUENCE, count=len(chosen))
    taken = set(Ticket.objects.values_list("number", flat=True))
    tickets: list[Ticket] = []
    plans: list[dict[str, Any]] = []
    for index, (order_id, customer_id, owner_id, ordered_at) in enumerate(chosen):
        category, _weight, subjects, resolutions = rng.choices(
            CATEGORIES, weights=[c[1] for c in CATEGORIES]
        )[0]
        subject = rng.choice(subjects)
        first_h, resolve_h = hours.get(category, (FALLBACK_FIRST_RESPONSE_HOURS, FALLBACK_RESOLUTION_HOURS))
        opened = min(
            ordered_at + timedelta(days=rng.uniform(1, 8)), now - timedelta(hours=rng.uniform(1, 48))
        )
        age_days = (now - opened).total_seconds() / 86400
        # Older tickets are done; the last three weeks' are spread over the open statuses, most of them
        # opened within their resolution time (a quarter already past it).
        if age_days > 21 or rng.random() < 0.3:
            status = TicketStatus.CLOSED if age_days > 7 or rng.random() < 0.5 else TicketStatus.RESOLVED
        else:
            status = rng.choice(
                [TicketStatus.NEW, TicketStatus.IN_PROGRESS, TicketStatus.IN_PROGRESS, TicketStatus.WAITING]
            )
            span = resolve_h * (rng.uniform(1.0, 2.0) if rng.random() < 0.25 else rng.uniform(0.05, 0.9))
            opened = max(now - timedelta(hours=span), ordered_at + timedelta(minutes=30))
        opened = opened.replace(microsecond=0)
        responded = None
        if status != TicketStatus.NEW:
            # Most are answered within the service level, a tail much later.
            late = rng.random() < 0.15
            responded = opened + timedelta(
                hours=rng.uniform(first_h, first_h * 4) if late else rng.uniform(0.1, first_h)
            )
            responded = max(opened, min(responded, now - timedelta(minutes=1)))
        resolved = closed = None
        result, resolution, satisfaction = "", "", None
        if status in (TicketStatus.RESOLVED, TicketStatus.CLOSED):
            late = rng.random() < 0.2
            resolved = opened + timedelta(
                hours=rng.uniform(resolve_h, resolve_h * 3) if late else rng.uniform(first_h, resolve_h)
            )
            resolved = min(resolved, now - timedelta(minutes=5))
            responded = min(responded or resolved, resolved)
            result, resolution = rng.choice(resolutions)
            if status == TicketStatus.CLOSED:
                closed = min(resolved + timedelta(days=rng.uniform(0.5, 3)), now)
                satisfaction = _pick(rng, SATISFACTION) if rng.random() < 0.6 else None
        number = ticket_no_format(first_number + index)
        while number in taken:  # never expected in a fresh demo; keeps the unique number safe anyway
            number = ticket_no_format(sequence_next(name=TICKET_NO_SEQUENCE))
        taken.add(number)
        assignee = owner_id if owner_id in staff and rng.random() < 0.8 else rng.choice(staff)
        if status == TicketStatus.NEW and rng.random() < 0.3:
            assignee = None
        tickets.append(
            Ticket(
                number=number,
                customer_id=customer_id,
                kind="complaint" if category != "other" else "request",
                category=category,
                priority=_pick(rng, (("normal", 70), ("high", 20), ("urgent", 5), ("low", 5))),
                subject=subject,
                description=subject + "，顾客希望尽快处理。",
                order_id=order_id,
                status=status,
                assignee_id=assignee,
                opened_at=opened,
                first_response_due_at=opened + timedelta(hours=first_h),
                due_at=opened + timedelta(hours=resolve_h),
                first_due_at=opened + timedelta(hours=resolve_h),
                first_responded_at=responded,
                resolved_at=resolved,
                closed_at=closed,
                resolution=resolution,
                result=result if result in TicketResult.values else "",
                satisfaction=satisfaction,
                created_at=opened,
                updated_at=closed or resolved or responded or opened,
                created_by_id=assignee or owner_id,
            )
        )
        plans.append({"order": order_id, "actor": assignee or owner_id})
    Ticket.objects.bulk_create(tickets, batch_size=500)
    by_number = dict(
        Ticket.objects.filter(number__in=[t.number for t in tickets]).values_list("number", "pk")
    )

    events: list[TicketEvent] = []
    through: list[Any] = []
    for ticket, plan in zip(tickets, plans, strict=True):
        pk, actor = by_number[ticket.number], plan["actor"]
        events.append(
            TicketEvent(
                ticket_id=pk, kind="opened", to_value="new", actor_id=actor, created_at=ticket.opened_at
            )
        )
        if ticket.first_responded_at:
            events.append(
                TicketEvent(
                    ticket_id=pk,
                    kind="status",
                    from_value="new",
                    to_value="in_progress" if ticket.status != TicketStatus.WAITING else "waiting",
                    note=rng.choice(NOTES),
                    actor_id=actor,
                    created_at=ticket.first_responded_at,
                )
            )
        if ticket.resolved_at:
            events.append(
                TicketEvent(
                    ticket_id=pk,
                    kind="status",
                    from_value="in_progress",
                    to_value="resolved",
                    note=ticket.resolution,
                    actor_id=actor,
                    created_at=ticket.resolved_at,
                )
            )
        if ticket.closed_at:
            events.append(
                TicketEvent(
                    ticket_id=pk,
                    kind="status",
                    from_value="resolved",
                    to_value="closed",
                    actor_id=actor,
                    created_at=ticket.closed_at,
                )
            )
        order_lines = lines.get(plan["order"], [])
        if order_lines and ticket.category in ("quality", "logistics", "aftersale"):
            through.append(Ticket.lines.through(ticket_id=pk, orderline_id=rng.choice(order_lines)))
    TicketEvent.objects.bulk_create(events, batch_size=1000)
    Ticket.lines.through.objects.bulk_create(through, batch_size=1000)

    ticket_of_order = {plan["order"]: by_number[t.number] for t, plan in zip(tickets, plans, strict=True)}
    links = [
        Ticket.aftersales.through(ticket_id=ticket_of_order[order_id], aftersale_id=aftersale_id)
        for aftersale_id, order_id in AfterSale.objects.filter(
            order_id__in=list(ticket_of_order)
        ).values_list("pk", "order_id")
    ]
    Ticket.aftersales.through.objects.bulk_create(links, batch_size=1000)
    return len(tickets) + len(events) + len(through) + len(links)
