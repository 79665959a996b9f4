"""The demo loader writes rows the services would have written: same derived and lookup columns,
valid phones and addresses, numbers from the same sequence."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from kebu.core import divisions
from kebu.core.lookup import phone_last4_lookup, phone_lookup, text_lookup
from kebu.core.phone import parse_phone
from kebu.core.text import pinyin_keys
from kebu.customers import demo
from kebu.customers.demo import DEMO_STAFF, DEMO_TAGS, demo_customers_load
from kebu.customers.models import Address, Customer, CustomerPhone, SocialAccount, Tag
from kebu.customers.services import customer_input_from, customer_update, region_of
from kebu.customers.tests.factories import make_customer


def _loaded(count: int, seed: int, **kwargs) -> list[Customer]:
    before = set(Customer.objects.values_list("pk", flat=True))
    assert demo_customers_load(count=count, seed=seed, **kwargs) == count
    return list(
        Customer.objects.exclude(pk__in=before)
        .prefetch_related("phones", "addresses", "socials", "tags")
        .order_by("pk")
    )


@pytest.mark.django_db
def test_demo_customers_carry_the_lookup_columns_the_services_compute():
    # given / when
    customers = _loaded(300, seed=11)

    # then
    assert len(customers) == 300
    for customer in customers:
        assert (customer.name_pinyin, customer.name_initials) == pinyin_keys(customer.name)
        assert customer.email_lookup == (text_lookup(customer.email) if customer.email else "")
        assert customer.version == 1
        phones = sorted(customer.phones.all(), key=lambda p: p.position)
        assert customer.primary_phone == (phones[0].number if phones else "")
        for phone in phones:
            parsed = parse_phone(phone.number)
            assert parsed.e164 == phone.number
            assert parsed.is_mobile
            assert phone.number_lookup == phone_lookup(parsed.e164)
            assert phone.last4_lookup == phone_last4_lookup(parsed.digits)
        addresses = list(customer.addresses.all())
        default = [a for a in addresses if a.is_default]
        assert len(default) == (1 if addresses else 0)
        assert (customer.province, customer.city) == (
            region_of(default[0].province, default[0].city) if default else ("", "")
        )
        for social in customer.socials.all():
            assert social.handle_lookup == text_lookup(social.handle)
        assert len(customer.tags.all()) <= 3


@pytest.mark.django_db
def test_every_demo_phone_parses_and_every_address_is_a_real_division():
    _loaded(300, seed=12)

    for number in CustomerPhone.objects.values_list("number", flat=True):
        assert parse_phone(number).e164 == number
    for province, city, district, detail, receiver_phone in Address.objects.values_list(
        "province", "city", "district", "detail", "receiver_phone"
    ):
        assert divisions.is_valid(province, city, district), (province, city, district)
        assert district and detail.strip()
        if receiver_phone:
            assert parse_phone(receiver_phone).e164 == receiver_phone


@pytest.mark.django_db
def test_saving_a_demo_customer_through_the_service_changes_none_of_its_derived_columns(owner):
    """The strongest form of "the same as the services": let the service recompute them."""
    customers = _loaded(60, seed=13)
    derived = ("name_pinyin", "name_initials", "email_lookup", "primary_phone", "province", "city")

    for customer in customers:
        before = {name: getattr(customer, name) for name in derived}
        phones_before = sorted(customer.phones.values_list("number", "number_lookup", "last4_lookup"))
        socials_before = sorted(customer.socials.values_list("kind", "handle", "handle_lookup"))

        updated = customer_update(
            actor=owner,
            customer=customer,
            data=customer_input_from(customer),
            expected_version=1,
            allow_duplicate_phone=True,
        )

        assert {name: getattr(updated, name) for name in derived} == before
        assert sorted(updated.phones.values_list("number", "number_lookup", "last4_lookup")) == phones_before
        assert sorted(updated.socials.values_list("kind", "handle", "handle_lookup")) == socials_before


@pytest.mark.django_db
def test_the_same_seed_gives_the_same_customers_whatever_the_batch_size():
    first = _loaded(50, seed=7, batch_size=50)
    again = _loaded(50, seed=7, batch_size=7)
    other = _loaded(50, seed=8)

    def profile(c: Customer) -> tuple:
        return (c.name, c.primary_phone, c.email, c.city, c.birthday, sorted(t.name for t in c.tags.all()))

    assert [profile(c) for c in first] == [profile(c) for c in again]
    assert [c.name for c in first] != [c.name for c in other]


@pytest.mark.django_db
def test_customer_numbers_are_unique_and_the_next_customer_continues_after_them(owner):
    # given a customer made by hand, and one whose number was kept from an imported sheet
    made = make_customer(actor=owner, name="手工录入")
    imported = make_customer(actor=owner, name="导入客户")
    taken = "C000005"
    Customer.objects.filter(pk=imported.pk).update(customer_no=taken)

    # when
    customers = _loaded(200, seed=14, batch_size=64)

    # then
    numbers = [c.customer_no for c in customers]
    assert len(set(numbers)) == 200
    assert made.customer_no not in numbers and taken not in numbers
    after = make_customer(actor=owner, name="之后新建")
    assert after.customer_no not in numbers
    assert after.customer_no > max(numbers)


@pytest.mark.django_db
def test_appending_to_a_ledger_with_customers_keeps_ids_and_children_apart(owner):
    existing = make_customer(actor=owner, name="老客户甲", phone="13812345678")

    customers = _loaded(120, seed=15)

    assert all(c.pk > existing.pk for c in customers)
    assert list(existing.phones.values_list("number", flat=True)) == ["+8613812345678"]
    assert Customer.objects.count() == 121
    assert CustomerPhone.objects.exclude(customer__in=customers).count() == 1


@pytest.mark.django_db
def test_demo_staff_and_tags_are_created_once_and_nobody_can_log_in_as_staff():
    _loaded(30, seed=16)
    _loaded(30, seed=17)

    staff = get_user_model().objects.filter(username__in=[u for u, _ in DEMO_STAFF])
    assert staff.count() == len(DEMO_STAFF)
    assert not any(user.has_usable_password() for user in staff)
    assert dict(Tag.objects.filter(name__in=DEMO_TAGS).values_list("name", "color")) == DEMO_TAGS
    owners = set(Customer.objects.exclude(owner=None).values_list("owner_id", flat=True))
    assert owners <= set(staff.values_list("pk", flat=True))


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the bulk path is SQLite's")
@pytest.mark.django_db(transaction=True)
def test_the_bulk_path_writes_the_same_rows_and_puts_every_index_back(monkeypatch):
    def indexes() -> list[tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
            return cursor.fetchall()

    before = indexes()
    monkeypatch.setattr(demo, "BULK_PATH_FROM", 10)

    customers = _loaded(80, seed=18, batch_size=16)

    assert indexes() == before
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    for customer in customers:
        assert (customer.name_pinyin, customer.name_initials) == pinyin_keys(customer.name)
    assert SocialAccount.objects.filter(customer__in=customers).exists()
