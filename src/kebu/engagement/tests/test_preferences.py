"""Preferences: what the customer told us (``preference_update``: its rules and audit, the card's htmx
form) and, shown apart, what their orders suggest (``preferences_inferred``, from real orders)."""

from __future__ import annotations

import threading
from datetime import datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, connections
from django.urls import reverse

from kebu.audit.models import AuditEntry
from kebu.core.errors import Forbidden, NotFound, ValidationFailed
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import Preference
from kebu.engagement.selectors.preferences import preferences_inferred
from kebu.engagement.services.preferences import PreferenceInput, preference_update
from kebu.orders.models import OrderStatus
from kebu.orders.services.products import ProductInput, SkuInput, product_create
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 6, 10, 9, 30, tzinfo=SHANGHAI)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _pages_in_english(settings):
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def a_customer(sales_a):
    return make_customer(actor=sales_a, name="张三", owner=sales_a)


@pytest.fixture
def b_customer(sales_b):
    return make_customer(actor=sales_b, name="王乙乙", owner=sales_b)


def _order(owner, customer, catalogue, lines, at, status=OrderStatus.PAID):
    return make_order(
        actor=owner, customer=customer, store=catalogue.store, lines=lines, ordered_at=at, status=status
    )


# --- what the customer told us ------------------------------------------------------------------------------


def test_preferences_are_saved_cleaned_and_audited_with_their_changes(sales_a, a_customer, catalogue):
    preference_update(
        actor=sales_a,
        customer=a_customer,
        data=PreferenceInput(
            categories=[catalogue.tea],
            colours=[" 藏青 ", "米白", "藏青", ""],
            sizes=["M"],
            price_band="premium",
            preferred_channel="wechat",
            contact_from=time(19, 0),
            contact_until=time(21, 30),
        ),
    )
    preference_update(
        actor=sales_a,
        customer=a_customer,
        data=PreferenceInput(
            categories=[catalogue.tea],
            colours=["藏青", "米白"],
            sizes=["L"],
            price_band="premium",
            preferred_channel="wechat",
            contact_from=time(19, 0),
            contact_until=time(21, 30),
        ),
    )

    preference = Preference.objects.get(customer=a_customer)
    assert (preference.colours, preference.sizes) == (["藏青", "米白"], ["L"])
    assert list(preference.categories.all()) == [catalogue.tea]
    assert preference.updated_by == sales_a
    last = AuditEntry.objects.filter(action="preference.update").order_by("-seq").first()
    assert last.changes == {"sizes": [["M"], ["L"]]}


def test_contact_hours_may_run_past_midnight(sales_a, a_customer):
    preference = preference_update(
        actor=sales_a, customer=a_customer, data=PreferenceInput(contact_from=time(22), contact_until=time(2))
    )

    assert (preference.contact_from, preference.contact_until) == (time(22), time(2))


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            PreferenceInput(contact_from=time(9)),
            "contact_until",
            "Give both ends of the contact hours, or neither.",
        ),
        (
            PreferenceInput(contact_from=time(9), contact_until=time(9)),
            "contact_until",
            "The contact hours start and end at the same time.",
        ),
        (PreferenceInput(colours=[f"色{i}" for i in range(21)]), "colours", "At most 20 entries, not 21."),
        (
            PreferenceInput(styles=["韩系" * 16]),
            "styles",
            "“" + "韩系" * 16 + "” is longer than 30 characters.",
        ),
        (PreferenceInput(preferred_channel="pigeon"), "preferred_channel", "Choose a channel from the list."),
        (
            PreferenceInput(brands=[987654]),
            "brands",
            "Choose from the list; one of the choices no longer exists.",
        ),
    ],
)
def test_bad_preferences_are_refused_naming_the_field_and_nothing_changes(
    sales_a, a_customer, data, field, message
):
    preference_update(actor=sales_a, customer=a_customer, data=PreferenceInput(colours=["红"]))

    with pytest.raises(ValidationFailed) as caught:
        preference_update(actor=sales_a, customer=a_customer, data=data)

    assert caught.value.field_errors[field] == [message]
    assert Preference.objects.get(customer=a_customer).colours == ["红"]
    assert AuditEntry.objects.filter(action="preference.update").count() == 1


def test_a_colleagues_customer_is_not_found_and_a_read_only_user_is_forbidden(
    sales_a, readonly, a_customer, b_customer
):
    with pytest.raises(NotFound):
        preference_update(actor=sales_a, customer=b_customer, data=PreferenceInput(colours=["红"]))
    with pytest.raises(Forbidden):
        preference_update(actor=readonly, customer=a_customer, data=PreferenceInput(colours=["红"]))

    assert not Preference.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_first_saves_at_once_both_succeed_and_the_later_one_wins(sales_a, a_customer, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite runs writers one after the other (its IMMEDIATE write lock)")
    # Both saves find no row and are held until both are about to insert it: the race, every time.
    barrier = threading.Barrier(2)
    held: set[int] = set()
    insert = Preference._do_insert

    def insert_together(self, *args, **kwargs):
        if threading.get_ident() not in held:
            held.add(threading.get_ident())
            barrier.wait(timeout=10)
        return insert(self, *args, **kwargs)

    monkeypatch.setattr(Preference, "_do_insert", insert_together)
    results: dict[str, object] = {}

    def save(colour: str) -> None:
        try:
            results[colour] = preference_update(
                actor=sales_a, customer=a_customer, data=PreferenceInput(colours=[colour])
            )
        except Exception as exc:  # the test looks at what each one got
            results[colour] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=save, args=(colour,)) for colour in ("红", "蓝")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(isinstance(result, Preference) for result in results.values()), results
    assert Preference.objects.count() == 1
    assert Preference.objects.get().colours in (["红"], ["蓝"])
    assert AuditEntry.objects.filter(action="preference.update").count() == 2


# --- what their orders suggest ------------------------------------------------------------------------------


def test_with_fewer_than_two_paid_orders_nothing_is_guessed(owner, a_customer, catalogue):
    _order(owner, a_customer, catalogue, [("CREAM-50", 1)], datetime(2025, 6, 1, 20, tzinfo=SHANGHAI))
    _order(
        owner,
        a_customer,
        catalogue,
        [("TEA-250", 1)],
        datetime(2025, 6, 2, 20, tzinfo=SHANGHAI),
        status=OrderStatus.PENDING,
    )

    inferred = preferences_inferred(customer=a_customer)

    assert (inferred.order_count, inferred.enough) == (1, False)
    assert inferred.categories == [] and inferred.price_band == ""


def test_inferred_preferences_come_from_the_paid_orders(owner, a_customer, catalogue):
    shirts = product_create(
        actor=owner,
        data=ProductInput(
            name="真丝衬衫",
            category=catalogue.skincare,
            skus=[
                SkuInput(code="SHIRT-NAVY-M", price_cny="99.00", color="藏青", size="M"),
                SkuInput(code="SHIRT-WHITE-M", price_cny="99.00", color="米白", size="M"),
            ],
        ),
    )
    assert shirts.skus.count() == 2
    saturday_night = datetime(2025, 6, 7, 21, 10, tzinfo=SHANGHAI)
    _order(owner, a_customer, catalogue, [("TEA-250", 3)], saturday_night)
    _order(
        owner,
        a_customer,
        catalogue,
        [("CREAM-50", 1), ("SHIRT-NAVY-M", 2)],
        datetime(2025, 5, 31, 21, 40, tzinfo=SHANGHAI),
    )
    _order(owner, a_customer, catalogue, [("SHIRT-WHITE-M", 1)], datetime(2025, 6, 4, 10, 0, tzinfo=SHANGHAI))
    _order(
        owner,
        a_customer,
        catalogue,
        [("CREAM-50", 5)],
        datetime(2025, 6, 5, 12, tzinfo=SHANGHAI),
        status=OrderStatus.CANCELLED,
    )

    inferred = preferences_inferred(customer=a_customer)

    assert (inferred.order_count, inferred.enough) == (3, True)
    assert [(r.label, r.amount) for r in inferred.categories] == [
        ("茶叶", Decimal("384.00")),
        ("护肤", Decimal("297.00")),
        ("护肤 › 面霜", Decimal("199.00")),
    ]
    assert [(r.label, r.amount) for r in inferred.brands] == [("润百颜", Decimal("199.00"))]
    assert [(r.label, r.amount) for r in inferred.colours] == [("藏青", 2), ("米白", 1)]
    assert [(r.label, r.amount) for r in inferred.sizes] == [("M", 3)]
    # SKU prices 89.50, 99, 99, 128, 199 split into thirds at 99 and 128; they paid 128 a piece typically.
    assert (inferred.typical_unit_price, inferred.price_band) == (Decimal("128.00"), "mid")
    assert (inferred.usual_weekday, inferred.usual_weekday_orders) == (5, 2)  # Saturdays
    assert (inferred.usual_hour, inferred.usual_hour_orders) == (21, 2)


@pytest.mark.parametrize(
    ("sku", "band"), [("TONER-100", "budget"), ("TEA-250", "mid"), ("CREAM-50", "premium")]
)
def test_the_price_band_places_what_they_pay_in_the_shops_thirds(owner, a_customer, catalogue, sku, band):
    for day in (1, 2):
        _order(owner, a_customer, catalogue, [(sku, 1)], datetime(2025, 6, day, 10, tzinfo=SHANGHAI))

    assert preferences_inferred(customer=a_customer).price_band == band


# --- the card -----------------------------------------------------------------------------------------------


def test_the_card_shows_what_they_told_us_apart_from_what_their_orders_suggest(
    client_for, owner, sales_a, a_customer, catalogue
):
    preference_update(
        actor=sales_a, customer=a_customer, data=PreferenceInput(colours=["樱花粉"], do_not_disturb=True)
    )
    for day in (1, 2):
        _order(owner, a_customer, catalogue, [("TEA-250", 1)], datetime(2025, 6, day, 10, tzinfo=SHANGHAI))

    html = client_for(sales_a).get(reverse("contacts:customer_preferences", args=[a_customer.pk]), **HTMX)
    html = html.content.decode()

    told, inferred = html.split('id="preferences-inferred"')
    assert "樱花粉" in told and "茶叶" not in told
    assert "茶叶" in inferred and "樱花粉" not in inferred
    assert 'id="do-not-disturb"' in told
    assert "From 2 paid orders." in inferred


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "No orders yet: Kebu needs 2 to tell what they like."),
        ("zh-hans", "还没有订单：至少需要 2 笔才能判断客户偏好。"),
    ],
)
def test_the_card_of_a_customer_without_orders_says_so_plainly(
    client_for, sales_a, a_customer, language, said
):
    url = reverse("contacts:customer_preferences", args=[a_customer.pk])
    html = client_for(sales_a).get(url, HTTP_ACCEPT_LANGUAGE=language, **HTMX).content.decode()

    assert said in html
    assert "0 orders" not in html and "0 笔" not in html


def test_the_card_says_when_there_are_too_few_orders(client_for, sales_a, a_customer, owner, catalogue):
    _order(owner, a_customer, catalogue, [("TEA-250", 1)], datetime(2025, 6, 1, 10, tzinfo=SHANGHAI))

    html = client_for(sales_a).get(reverse("contacts:customer_preferences", args=[a_customer.pk]), **HTMX)

    assert "Only 1 order so far: too few to tell what they like" in html.content.decode()


def test_preferences_are_edited_in_place_on_the_card(client_for, sales_a, a_customer, catalogue):
    client = client_for(sales_a)
    url = reverse("contacts:customer_preferences_edit", args=[a_customer.pk])

    form = client.get(url, **HTMX)
    saved = client.post(
        url,
        {
            "categories": [catalogue.tea.pk],
            "colours": "藏青，米白、酒红",
            "sizes": "",
            "styles": "",
            "price_band": "mid",
            "preferred_channel": "phone",
            "contact_from": "22:00",
            "contact_until": "02:00",
            "notes": "不要周一打电话",
        },
        **HTMX,
    )

    assert 'id="preferences-form"' in form.content.decode()
    assert saved.status_code == 200
    assert 'id="preferences-card"' in saved.content.decode() and "酒红" in saved.content.decode()
    preference = Preference.objects.get(customer=a_customer)
    assert preference.colours == ["藏青", "米白", "酒红"]
    assert (preference.contact_from, preference.contact_until) == (time(22), time(2))


def test_a_refused_edit_keeps_the_form_with_the_message_and_saves_nothing(client_for, sales_a, a_customer):
    response = client_for(sales_a).post(
        reverse("contacts:customer_preferences_edit", args=[a_customer.pk]),
        {"contact_from": "09:00", "colours": "红"},
        **HTMX,
    )

    assert response.status_code == 200
    assert "Give both ends of the contact hours, or neither." in response.content.decode()
    assert not Preference.objects.exists()


def test_a_read_only_user_sees_the_card_without_an_edit_button(client_for, readonly, a_customer):
    client = client_for(readonly)

    card = client.get(reverse("contacts:customer_preferences", args=[a_customer.pk]), **HTMX)
    edit = client.post(reverse("contacts:customer_preferences_edit", args=[a_customer.pk]), {"colours": "红"})

    assert card.status_code == 200 and 'id="edit-preferences"' not in card.content.decode()
    assert edit.status_code == 403
    assert not Preference.objects.exists()
