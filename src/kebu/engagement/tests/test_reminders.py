"""Follow-ups made from the plans (``services.reminders.reminders_generate``), with the clock frozen in
Asia/Shanghai: one test per plan kind, the day boundaries of the shop's time zone, no doubles when run
again, the days missed during downtime made once, lunar birthdays in a year whose month is short.

Orders are made through the order services; their delivery time, credit and the like are then set on the
row directly, as the generation only reads them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db.models import F
from django.urls import reverse
from django.utils import translation

from kebu.core import lunar
from kebu.customers.models import Customer, CustomField, CustomFieldType
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import FollowUp, FollowUpKind, FollowUpPlan, Preference, ReminderDay
from kebu.engagement.services.followups import followup_create
from kebu.engagement.services.reminders import CATCH_UP_DAYS, reminders_generate
from kebu.engagement.titles import reminder_title
from kebu.orders.models import Order, OrderStatus
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def only_plan(kind: str, **changes) -> FollowUpPlan:
    """The seeded plan of ``kind`` (签收后回访, 复购提醒, 生日关怀, 赊账到期提醒), the others switched off."""
    FollowUpPlan.objects.exclude(kind=kind).update(is_active=False)
    plan = FollowUpPlan.objects.filter(kind=kind).order_by("id").first() or FollowUpPlan.objects.create(
        kind=kind, name=kind, days=3
    )
    for field, value in changes.items():
        setattr(plan, field, value)
    plan.save()
    return plan


def delivered(order: Order, when: datetime) -> Order:
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED, delivered_at=when)
    return Order.objects.get(pk=order.pk)


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", owner=sales_a)


# --- after delivery ------------------------------------------------------------------------------------


def test_a_call_is_due_three_days_after_the_shops_delivery_day(sales_a, customer, catalogue):
    plan = only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    today = date(2026, 3, 10)
    # delivered late on 7 March in Shanghai (15:30 UTC): that is the 7th, three days before the 10th
    late = delivered(
        make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 3, 7), 23, 30)
    )
    # just after midnight on the 8th: not yet
    early = delivered(
        make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 3, 8), 0, 30)
    )
    with time_machine.travel(at(today), tick=False):
        made = reminders_generate()

    assert made == 1
    followup = FollowUp.objects.get()
    assert followup.key == f"after_delivery:{plan.pk}:{late.pk}"
    assert (followup.kind, followup.due_on, followup.order_id) == (
        FollowUpKind.AFTER_DELIVERY,
        today,
        late.pk,
    )
    assert followup.assignee == sales_a
    assert late.order_no in followup.title
    assert not FollowUp.objects.filter(order=early).exists()


def test_a_cancelled_order_gets_no_call(sales_a, customer, catalogue):
    only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    order = delivered(
        make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 3, 7))
    )
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED)
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 0
    assert not FollowUp.objects.exists()


def test_generating_a_day_again_makes_no_doubles(sales_a, customer, catalogue):
    only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    delivered(make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 3, 7)))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 1
        # a second run the same day, and a run after the day's record was lost (a crash before it)
        assert reminders_generate() == 0
        ReminderDay.objects.all().delete()
        assert reminders_generate() == 0
    assert FollowUp.objects.count() == 1
    assert list(ReminderDay.objects.values_list("day", flat=True)) == [date(2026, 3, 10)]


def test_days_missed_while_the_server_was_down_are_made_once(sales_a, customer, catalogue):
    only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    orders = {
        day: delivered(
            make_order(actor=sales_a, customer=customer, store=catalogue.store), at(day - timedelta(days=3))
        )
        for day in (date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9), date(2026, 3, 10))
    }
    with time_machine.travel(at(date(2026, 3, 7)), tick=False):
        assert reminders_generate() == 1  # the last day done before the downtime
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 3
        assert reminders_generate() == 0

    due = dict(FollowUp.objects.values_list("order_id", "due_on"))
    # the 7th was done before the downtime (its call stays as it was); each missed day made its own
    assert due == {orders[d].pk: d for d in orders}
    assert sorted(ReminderDay.objects.values_list("day", flat=True)) == [
        date(2026, 3, 7),
        date(2026, 3, 8),
        date(2026, 3, 9),
        date(2026, 3, 10),
    ]


def test_the_first_run_makes_today_only(sales_a, customer, catalogue):
    only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    # delivered long before a late record could explain (LATE_DAYS), and on the day the call is for
    delivered(make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 2, 20)))
    delivered(make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 3, 7)))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 1
    assert list(ReminderDay.objects.values_list("day", flat=True)) == [date(2026, 3, 10)]


def test_a_long_downtime_is_caught_up_for_a_month_only(sales_a, customer):
    only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    ReminderDay.objects.create(day=date(2025, 12, 1))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        reminders_generate()
    assert ReminderDay.objects.filter(day__gt=date(2025, 12, 1)).count() == CATCH_UP_DAYS + 1


def test_the_plans_assignee_comes_first_then_the_owner_then_nobody(
    sales_a, sales_b, django_user_model, catalogue
):
    plan = only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    owned = make_customer(actor=sales_a, name="甲", owner=sales_a)
    pool = make_customer(actor=sales_a, name="乙", owner=None)
    gone = make_customer(actor=sales_a, name="丙", owner=sales_a)
    leaver = django_user_model.objects.create_user(username="leaver", is_active=False)
    Customer.objects.filter(pk=gone.pk).update(owner=leaver)
    orders = {
        c.pk: delivered(make_order(actor=sales_a, customer=c, store=catalogue.store), at(date(2026, 3, 7)))
        for c in (owned, pool, gone)
    }
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        reminders_generate()
    assert dict(FollowUp.objects.values_list("customer_id", "assignee_id")) == {
        owned.pk: sales_a.pk,
        pool.pk: None,
        gone.pk: None,
    }
    # with an assignee of its own, the plan's goes first
    FollowUp.objects.all().delete()
    ReminderDay.objects.all().delete()
    plan.assignee = sales_b
    plan.save()
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        reminders_generate()
    assert set(FollowUp.objects.values_list("assignee_id", flat=True)) == {sales_b.pk}
    assert len(orders) == 3


def test_two_plans_of_one_kind_each_remind(sales_a, customer, catalogue):
    first = only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    second = FollowUpPlan.objects.create(kind=FollowUpKind.AFTER_DELIVERY, name="邀请评价", days=3)
    delivered(make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 3, 7)))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 2
    assert set(FollowUp.objects.values_list("plan_id", flat=True)) == {first.pk, second.pk}


def test_archived_customers_get_no_follow_ups(sales_a, customer, catalogue):
    only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    delivered(make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 3, 7)))
    Customer.objects.filter(pk=customer.pk).update(archived_at=at(date(2026, 3, 8)))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 0


def test_a_do_not_disturb_customer_still_gets_the_follow_up_marked(sales_a, customer, catalogue):
    only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    Preference.objects.create(customer=customer, do_not_disturb=True)
    delivered(make_order(actor=sales_a, customer=customer, store=catalogue.store), at(date(2026, 3, 7)))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        reminders_generate()
    assert FollowUp.objects.get().note.startswith("Do not disturb")


# --- repurchase ----------------------------------------------------------------------------------------


def test_a_repurchase_reminder_comes_days_before_quantity_times_cycle_runs_out(sales_a, customer, catalogue):
    plan = only_plan(FollowUpKind.REPURCHASE, days=3)
    # two packs of tea (30 days each) bought on 13 January run out on 14 March: due on the 11th
    order = make_order(
        actor=sales_a,
        customer=customer,
        store=catalogue.store,
        lines=[("TEA-250", 2)],
        ordered_at=at(date(2026, 1, 13)),
    )
    # one pack bought the same day ran out in February: nothing now
    make_order(
        actor=sales_a,
        customer=customer,
        store=catalogue.store,
        lines=[("TONER-100", 1)],
        ordered_at=at(date(2026, 1, 13)),
    )
    with time_machine.travel(at(date(2026, 3, 11)), tick=False):
        assert reminders_generate() == 1
    followup = FollowUp.objects.get()
    line = order.lines.get()
    assert followup.key == f"repurchase:{plan.pk}:{line.pk}"
    assert (followup.due_on, followup.order_id) == (date(2026, 3, 11), order.pk)
    assert "明前龙井" in followup.title


def test_no_repurchase_reminder_when_the_customer_bought_the_product_again(sales_a, customer, catalogue):
    only_plan(FollowUpKind.REPURCHASE, days=3)
    make_order(
        actor=sales_a,
        customer=customer,
        store=catalogue.store,
        lines=[("TEA-250", 2)],
        ordered_at=at(date(2026, 1, 13)),
    )
    make_order(
        actor=sales_a,
        customer=customer,
        store=catalogue.store,
        lines=[("TEA-250", 1)],
        ordered_at=at(date(2026, 3, 1)),
    )
    with time_machine.travel(at(date(2026, 3, 11)), tick=False):
        assert reminders_generate() == 0


# --- birthdays -----------------------------------------------------------------------------------------


def test_a_solar_birthday_is_reminded_days_before(sales_a):
    plan = only_plan(FollowUpKind.BIRTHDAY, days=3)
    born = make_customer(actor=sales_a, name="生日", owner=sales_a, birthday=date(1990, 3, 13))
    make_customer(actor=sales_a, name="别的日子", owner=sales_a, birthday=date(1990, 3, 14))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 1
    followup = FollowUp.objects.get()
    assert (followup.customer_id, followup.key) == (born.pk, f"birthday:{plan.pk}:{born.pk}:2026")


def test_a_29_february_birthday_is_reminded_for_28_february_in_other_years(sales_a):
    only_plan(FollowUpKind.BIRTHDAY, days=0)
    leapling = make_customer(actor=sales_a, name="闰日", owner=sales_a, birthday=date(1996, 2, 29))
    with time_machine.travel(at(date(2026, 2, 28)), tick=False):
        assert reminders_generate() == 1
    assert FollowUp.objects.get().customer_id == leapling.pk


def test_a_lunar_30th_birthday_falls_on_the_29th_in_a_year_whose_month_is_short(sales_a):
    plan = only_plan(FollowUpKind.BIRTHDAY, days=3)
    # born on a lunar 二月三十 (a year whose second month had 30 days)
    year = next(y for y in range(1985, 2000) if lunar.month_days(year=y, month=2) == 30)
    born_on = lunar.lunar_to_solar(year=year, month=2, day=30)
    customer = make_customer(
        actor=sales_a, name="农历", owner=sales_a, birthday=born_on, birthday_is_lunar=True
    )
    # a solar-birthday customer born the same day is reminded on the solar date, not this one
    make_customer(actor=sales_a, name="阳历", owner=sales_a, birthday=born_on)
    # lunar 2026's second month has 29 days: the birthday is on 二月廿九
    assert lunar.month_days(year=2026, month=2) == 29
    birthday = lunar.lunar_to_solar(year=2026, month=2, day=29)
    with time_machine.travel(at(birthday - timedelta(days=3)), tick=False):
        assert reminders_generate() == 1
    followup = FollowUp.objects.get()
    assert followup.customer_id == customer.pk
    assert followup.key == f"birthday:{plan.pk}:{customer.pk}:L2026"
    assert followup.due_on == birthday - timedelta(days=3)


def test_a_leap_month_birthday_is_reminded_in_the_ordinary_month(sales_a):
    only_plan(FollowUpKind.BIRTHDAY, days=0)
    born_on = lunar.lunar_to_solar(year=2023, month=2, day=10, leap=True)
    customer = make_customer(
        actor=sales_a, name="闰月", owner=sales_a, birthday=born_on, birthday_is_lunar=True
    )
    with time_machine.travel(at(lunar.lunar_to_solar(year=2026, month=2, day=10)), tick=False):
        assert reminders_generate() == 1
    assert FollowUp.objects.get().customer_id == customer.pk


# --- a date custom field, credit -----------------------------------------------------------------------


def test_a_membership_renewal_date_field_is_reminded_days_before(sales_a):
    CustomField.objects.create(key="member_until", label="会员到期日", field_type=CustomFieldType.DATE)
    plan = FollowUpPlan.objects.create(
        kind=FollowUpKind.DATE_FIELD, name="会员续费", days=7, custom_field="member_until"
    )
    FollowUpPlan.objects.exclude(pk=plan.pk).update(is_active=False)
    member = make_customer(actor=sales_a, name="会员", owner=sales_a, custom={"member_until": "2026-03-17"})
    make_customer(actor=sales_a, name="别人", owner=sales_a, custom={"member_until": "2026-03-18"})
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 1
    followup = FollowUp.objects.get()
    assert followup.key == f"date_field:{plan.pk}:{member.pk}:2026-03-17"
    assert "会员到期日" in followup.title


def test_a_credit_due_date_is_reminded_days_ahead(sales_a, customer, catalogue):
    plan = only_plan(FollowUpKind.CREDIT_DUE, days=3)
    owing = make_order(actor=sales_a, customer=customer, store=catalogue.store)
    Order.objects.filter(pk=owing.pk).update(
        credit_due_date=date(2026, 3, 13),
        credit_outstanding_cny=Decimal("100.00"),
        credit_taken_cny=F("paid_cny"),
    )
    paid_up = make_order(actor=sales_a, customer=customer, store=catalogue.store)
    Order.objects.filter(pk=paid_up.pk).update(credit_due_date=date(2026, 3, 13), credit_outstanding_cny=0)
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 1
    followup = FollowUp.objects.get()
    assert followup.key == f"credit_due:{plan.pk}:{owing.pk}:2026-03-13"
    assert followup.order_id == owing.pk
    assert "100.00" in followup.title


# --- late records, early credit, partial returns (review findings) ----------------------------------------


def test_a_delivery_recorded_after_its_day_was_done_still_gets_its_call(sales_a, customer, catalogue):
    plan = only_plan(FollowUpKind.AFTER_DELIVERY, days=3)
    order = make_order(actor=sales_a, customer=customer, store=catalogue.store)
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        assert reminders_generate() == 0  # the 7th's deliveries: none recorded yet
    # the weekly import records it on the 12th as delivered on the 7th; the next run (the 11th's and
    # the 12th's days) makes its call, once, due the first day it could be made
    delivered(order, at(date(2026, 3, 7)))
    with time_machine.travel(at(date(2026, 3, 12)), tick=False):
        assert reminders_generate() == 1
        assert reminders_generate() == 0
    followup = FollowUp.objects.get()
    assert (followup.key, followup.due_on) == (f"after_delivery:{plan.pk}:{order.pk}", date(2026, 3, 11))


def test_credit_due_sooner_than_the_plans_days_is_still_reminded(sales_a, customer, catalogue):
    only_plan(FollowUpKind.CREDIT_DUE, days=3)
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        reminders_generate()  # the 10th is done before the order exists
    order = make_order(actor=sales_a, customer=customer, store=catalogue.store)
    Order.objects.filter(pk=order.pk).update(
        credit_outstanding_cny=Decimal("199.00"),
        credit_due_date=date(2026, 3, 12),
        credit_taken_cny=F("paid_cny"),
    )
    with time_machine.travel(at(date(2026, 3, 11)), tick=False):
        assert reminders_generate() == 1
    assert FollowUp.objects.get().due_on == date(2026, 3, 11)


def test_a_partly_returned_purchase_runs_out_after_what_was_kept(sales_a, customer, catalogue):
    # CREAM-50 lasts 60 days a jar; 3 bought, 1 returned: the two kept last 120 days
    plan = only_plan(FollowUpKind.REPURCHASE, days=0)
    order = make_order(
        actor=sales_a,
        customer=customer,
        store=catalogue.store,
        lines=[("CREAM-50", 3)],
        ordered_at=at(date(2026, 1, 1)),
    )
    line = order.lines.get()
    type(line).objects.filter(pk=line.pk).update(returned_quantity=1)
    with time_machine.travel(at(date(2026, 5, 1)), tick=False):  # day 120
        assert reminders_generate() == 1
    assert FollowUp.objects.get().key == f"repurchase:{plan.pk}:{line.pk}"


# --- titles in the reader's language ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "shown", "not_shown"),
    [
        ("en", "Credit due reminder · order {no} · ¥1,194.00 due 2026-03-13", "订单"),
        ("zh-hans", "赊账到期提醒 · 订单 {no} · ¥1,194.00 于 2026-03-13 到期", "due 2026"),
    ],
)
def test_a_reminders_title_reads_in_the_readers_language_a_persons_as_written(
    sales_a, customer, catalogue, client_for, settings, language, shown, not_shown
):
    # given a credit reminder made on a day the shop ran in Chinese, and a follow-up a clerk wrote
    settings.LANGUAGE_CODE = "zh-hans"
    only_plan(FollowUpKind.CREDIT_DUE, days=3)
    owing = make_order(actor=sales_a, customer=customer, store=catalogue.store, lines=[("CREAM-50", 6)])
    Order.objects.filter(pk=owing.pk).update(
        credit_due_date=date(2026, 3, 13),
        credit_outstanding_cny=Decimal("1194.00"),
        credit_taken_cny=F("paid_cny"),
    )
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        reminders_generate()
        followup_create(
            actor=sales_a, customer=customer, title="Send the sample 试用装", due_on=date(2026, 3, 10)
        )

        # when the clerk reads the day's follow-ups in a language
        url = reverse("followups:today")
        html = client_for(sales_a).get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()

    # then the reminder is written in it, the clerk's own words stay as they were
    assert shown.format(no=owing.order_no) in html
    assert not_shown not in html
    assert "Send the sample 试用装" in html
    assert FollowUp.objects.get(kind=FollowUpKind.CREDIT_DUE).title.startswith("赊账到期提醒 · 订单")


# --- the seeded plans' names, and one way of writing a day ------------------------------------------------


@pytest.mark.parametrize(
    ("language", "shown", "not_shown"),
    [
        ("en", "Birthday greetings · birthday 2026-03-13", "生日关怀"),
        ("zh-hans", "生日关怀 · 生日 2026-03-13", "Birthday greetings"),
    ],
)
def test_a_seeded_plans_reminder_reads_in_each_readers_language_its_date_as_every_page_writes_it(
    sales_a, client_for, settings, language, shown, not_shown
):
    # given the seeded birthday plan, not renamed, making its reminder on a day the shop ran in Chinese
    settings.LANGUAGE_CODE = "zh-hans"
    plan = only_plan(FollowUpKind.BIRTHDAY, days=3)
    assert plan.name == "生日关怀"
    make_customer(actor=sales_a, name="寿星", owner=sales_a, birthday=date(1990, 3, 13))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        reminders_generate()

        # when a colleague reads the day's follow-ups in their language
        html = (
            client_for(sales_a)
            .get(reverse("followups:today"), HTTP_ACCEPT_LANGUAGE=language)
            .content.decode()
        )

    # then the plan's name and the sentence are in it, and the day is written as the due day is
    assert shown in html
    assert not_shown not in html


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_a_renamed_plan_reads_as_the_shop_wrote_it(sales_a, client_for, language):
    only_plan(FollowUpKind.BIRTHDAY, days=3, name="生日 send a card")
    make_customer(actor=sales_a, name="寿星", owner=sales_a, birthday=date(1990, 3, 13))
    with time_machine.travel(at(date(2026, 3, 10)), tick=False):
        reminders_generate()
        html = (
            client_for(sales_a)
            .get(reverse("followups:today"), HTTP_ACCEPT_LANGUAGE=language)
            .content.decode()
        )

    assert "生日 send a card · " in html


@pytest.mark.parametrize(
    ("name", "language", "shown"),
    [
        ("签收后回访", "en", "Call after delivery"),
        ("签收后回访", "zh-hans", "签收后回访"),
        ("Call after delivery", "zh-hans", "签收后回访"),
        ("签收后三天回访", "en", "签收后三天回访"),
    ],
)
def test_a_plan_still_called_by_its_default_name_in_either_language_reads_in_the_readers(
    name, language, shown
):
    plan = FollowUpPlan(kind=FollowUpKind.AFTER_DELIVERY, name=name)

    with translation.override(language):
        assert plan.shown_name == shown
        assert str(plan) == shown


@pytest.mark.parametrize(
    ("parts", "shown"),
    [
        (
            {"kind": "date_field", "plan": "会员续费", "field": "会员到期日", "day": "2026-03-07"},
            "2026-03-07",
        ),
        (
            {"kind": "credit_due", "plan": "赊账", "no": "KB1", "owed": "10.00", "day": "2026-03-07"},
            "2026-03-07",
        ),
        ({"kind": "repurchase", "plan": "复购", "item": "面霜", "day": "2026-03-07"}, "2026-03-07"),
        ({"kind": "birthday", "plan": "生日", "day": "2026-03-07"}, "2026-03-07"),
    ],
)
def test_every_reminder_writes_its_day_the_same_way_in_chinese(parts, shown):
    with translation.override("zh-hans"):
        title = reminder_title(parts)

    assert shown in title
    assert "3月7日" not in title
