"""Demo contact records (沟通记录): a few conversations with about a third of the active demo customers
over the last half year, logged by their owner (or another colleague for the shared pool), mostly on
WeChat and the marketplace chat, each with a summary in the shop's words; one in six has a next step,
and those with a due date are follow-ups too (done when the day has passed, open otherwise), as
``contact_log`` would have made them. No attachments: demo files would only fill the data folder.
Bulk inserts: about a second at 5,000 customers."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from kebu.customers.models import Customer
from kebu.engagement.models import ContactRecord, FollowUp, FollowUpKind, FollowUpStatus

SHARE = 0.35  # of the active customers, who have been in touch at all
MAX_CUSTOMERS = 3000
DAYS_BACK = 180
# (channel, weight): how Chinese online shops talk to their buyers.
CHANNELS = (
    ("wechat", 45),
    ("marketplace", 25),
    ("phone", 15),
    ("sms", 7),
    ("email", 3),
    ("in_person", 3),
    ("other", 2),
)
INBOUND = (
    "咨询面霜适合什么肤质，已推荐玻尿酸款",
    "问双11有没有满减活动",
    "反馈快递三天还没到，已帮忙查件",
    "想换成大瓶装，问差价怎么补",
    "问批发价格和起订量",
    "说上次的茶叶很好喝，想再买两盒",
    "发来包裹破损照片，要求补发",
    "问会员积分怎么兑换",
    "咨询送礼包装和贺卡",
    "问什么时候补货",
)
OUTBOUND = (
    "签收后回访，客户表示满意",
    "通知新品上架，客户有兴趣",
    "提醒优惠券快到期",
    "确认收货地址变更",
    "回访使用感受，建议搭配爽肤水",
    "邀请加入会员群",
    "发送批发报价单，客户考虑中",
    "生日祝福，送了小样",
    "催付未付款订单",
    "告知退款已处理",
)
NEXT_STEPS = (
    "寄小样试用",
    "三天后回访使用感受",
    "发新品图片",
    "确认补发单号",
    "跟进报价",
    "提醒领取优惠券",
    "到货后通知",
)


def demo_contacts(*, rng: random.Random, now: datetime) -> int:
    """Add contact records (and their next-step follow-ups) to the demo customers; returns the rows made."""
    staff = list(get_user_model().objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))
    if not staff:
        return 0
    customers = list(
        Customer.objects.filter(archived_at__isnull=True)
        .order_by("pk")
        .values_list("pk", "owner_id", "created_at")
    )
    chosen = [c for c in customers if rng.random() < SHARE][:MAX_CUSTOMERS]
    channels, weights = zip(*CHANNELS, strict=True)
    today = timezone.localdate(now)
    records: list[ContactRecord] = []
    for customer_id, owner_id, created_at in chosen:
        since = max(created_at, now - timedelta(days=DAYS_BACK))
        span = max(int((now - since).total_seconds()), 3600)
        for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
            # Whole minutes in shop working hours (9:00–22:00), as people log them.
            moment = timezone.localtime(now - timedelta(seconds=rng.randrange(span)))
            moment = moment.replace(
                hour=rng.randint(9, 21), minute=rng.randint(0, 59), second=0, microsecond=0
            )
            if moment > now:
                moment -= timedelta(days=1)
            inbound = rng.random() < 0.45
            record = ContactRecord(
                customer_id=customer_id,
                channel=rng.choices(channels, weights)[0],
                direction="in" if inbound else "out",
                occurred_at=moment,
                summary=rng.choice(INBOUND if inbound else OUTBOUND),
                created_at=moment + timedelta(minutes=rng.randint(1, 30)),
                created_by_id=owner_id or rng.choice(staff),
            )
            if rng.random() < 0.17:
                record.next_step = rng.choice(NEXT_STEPS)
                if rng.random() < 0.8:
                    record.next_step_due = moment.date() + timedelta(days=rng.randint(1, 7))
            records.append(record)
    records.sort(key=lambda r: r.occurred_at)
    with transaction.atomic():
        ContactRecord.objects.bulk_create(records, batch_size=1000)
        followups = [_followup(rng, record, today) for record in records if record.next_step_due]
        FollowUp.objects.bulk_create(followups, batch_size=1000)
    return len(records) + len(followups)


def _followup(rng: random.Random, record: ContactRecord, today: date) -> FollowUp:
    row = FollowUp(
        customer_id=record.customer_id,
        kind=FollowUpKind.NEXT_STEP,
        contact=record,
        assignee_id=record.created_by_id,
        due_on=record.next_step_due,
        title=record.next_step,
        created_at=record.created_at,
        created_by_id=record.created_by_id,
    )
    if record.next_step_due < today:
        row.status = FollowUpStatus.DONE
        row.done_at = timezone.make_aware(
            datetime.combine(record.next_step_due, datetime.min.time())
        ) + timedelta(hours=rng.randint(10, 19))
        row.done_by_id = record.created_by_id
        row.outcome = "已跟进"
    return row
