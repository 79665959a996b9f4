"""``objects_insert``, ``values_insert`` and the updates: rows stored exactly as a save (or the ORM's
update) stores them, ids set, never an id twice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Field, ForeignKey
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from kebu.core.bulk import _AS_IS, field_preparer, objects_insert, row_update, values_insert, values_update
from kebu.customers.models import Customer, CustomerEvent

pytestmark = pytest.mark.django_db


def test_inserted_objects_get_their_ids_and_read_back_as_saved(owner):
    saved = Customer.objects.create(customer_no="C900000", name="先来的", primary_phone="+8613800000000")
    customers = [
        Customer(
            customer_no=f"C90000{i}", name=f"客户{i}", primary_phone=f"+861380000000{i}", custom={"vip": i}
        )
        for i in (1, 2)
    ]

    objects_insert(Customer, customers)
    objects_insert(CustomerEvent, [CustomerEvent(customer=c, kind="customer.imported") for c in customers])

    assert len({saved.pk, *(c.pk for c in customers)}) == 3 and all(c.pk > saved.pk for c in customers)
    again = Customer.objects.get(pk=customers[1].pk)
    assert (again.name, again.primary_phone, again.custom) == ("客户2", "+8613800000002", {"vip": 2})
    with connection.cursor() as cursor:  # encrypted at rest, as a save stores it
        cursor.execute("SELECT primary_phone FROM customers_customer WHERE id = %s", [again.pk])
        stored = cursor.fetchone()[0]
    assert stored and "13800000002" not in str(stored)
    assert CustomerEvent.objects.filter(customer__in=customers).count() == 2
    later = Customer.objects.create(customer_no="C900009", name="后来的")
    assert later.pk > max(c.pk for c in customers)


def test_inserted_values_read_back_as_a_save_stores_them(owner):
    customer = Customer.objects.create(customer_no="C900100", name="老客户")
    saved = CustomerEvent.objects.create(customer=customer, actor=owner, kind="customer.updated", data={})
    when = timezone.now() - timedelta(days=3)
    # ``owner`` is the user itself, given by its id; the JSON and the time go through their fields.
    values_insert(
        CustomerEvent,
        ["customer", "actor", "kind", "data", "created_at"],
        [(customer.pk, owner.pk, "customer.imported", {"import": 7, "名": "表"}, when)] * 2,
    )
    made = list(CustomerEvent.objects.filter(kind="customer.imported").order_by("pk"))
    assert [(e.actor_id, e.data, e.created_at) for e in made] == [
        (owner.pk, {"import": 7, "名": "表"}, when)
    ] * 2
    assert made[0].pk > saved.pk and made[1].pk == made[0].pk + 1
    assert CustomerEvent.objects.create(customer=customer, kind="customer.updated").pk > made[1].pk


def _short_cut_fields() -> list[Field]:
    """A field of each class (and each class a foreign key points to) among the project's models whose
    preparing ``field_preparer`` may short-cut: it depends on the classes alone."""
    found: dict[tuple[type, type], Field] = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            target = field.target_field if isinstance(field, ForeignKey) else field
            if type(target) in _AS_IS:
                found.setdefault((type(field), type(target)), field)
    return list(found.values())


_VALUES = st.one_of(
    st.none(), st.text(max_size=12), st.integers(min_value=-(2**40), max_value=2**40), st.booleans()
)


@pytest.mark.parametrize("field", _short_cut_fields(), ids=lambda f: f"{f.model._meta.label}.{f.name}")
@settings(max_examples=30, deadline=None)
@given(value=_VALUES)
def test_the_short_cut_prepares_as_the_field_does(field, value):
    prepare = field_preparer(field, connection)
    try:
        expected = field.get_db_prep_save(value, connection)
    except (TypeError, ValueError, ValidationError) as exc:
        # A value the field refuses is refused the same way, never passed through.
        with pytest.raises(type(exc)):
            prepare(value)
        return
    assert prepare(value) == expected and type(prepare(value)) is type(expected)


def test_what_must_be_prepared_is_never_passed_through():
    phone = field_preparer(Customer._meta.get_field("primary_phone"), connection)("+8613800000000")
    custom = field_preparer(Customer._meta.get_field("custom"), connection)({"vip": 1})
    assert "13800000000" not in str(phone) and not isinstance(custom, dict)


def test_fields_left_out_take_their_defaults_and_shared_values_go_to_every_row(owner):
    customers = Customer.objects.bulk_create(
        [Customer(customer_no=f"C90020{i}", name=f"客户{i}") for i in (1, 2)]
    )
    when = timezone.now() - timedelta(days=1)
    ids = values_insert(
        CustomerEvent,
        ["customer", "data"],
        [(c.pk, {"n": i}) for i, c in enumerate(customers)],
        same={"actor": owner.pk, "kind": "customer.imported", "created_at": when},
    )
    made = CustomerEvent.objects.filter(pk__in=ids).order_by("pk")
    assert [(e.customer_id, e.actor_id, e.kind, e.data, e.created_at) for e in made] == [
        (c.pk, owner.pk, "customer.imported", {"n": i}, when) for i, c in enumerate(customers)
    ]
    # The actor, left out, takes its default (none).
    values_insert(
        CustomerEvent, ["customer", "kind", "data", "created_at"], [(customers[0].pk, "x", {}, when)]
    )
    assert CustomerEvent.objects.get(kind="x").actor_id is None


def test_a_value_made_per_row_must_be_named():
    # created_at's default is timezone.now and data's is dict: made once for all the rows, they would
    # be one time and one shared value; the caller must say what each row holds.
    with pytest.raises(ValueError, match="created_at"):
        values_insert(CustomerEvent, ["customer", "kind", "data"], [(1, "x", {})])
    with pytest.raises(ValueError, match="data"):
        values_insert(CustomerEvent, ["customer", "kind", "created_at"], [(1, "x", timezone.now())])
    assert not CustomerEvent.objects.exists()


def test_updated_values_read_back_as_an_update_stores_them(owner):
    first, second, third = (
        Customer.objects.create(customer_no=f"C90010{i}", name=f"客户{i}") for i in (1, 2, 3)
    )
    when = timezone.now().replace(microsecond=0) - timedelta(days=3)

    values_update(
        Customer,
        ("total_spent_cny", "last_order_at", "avg_order_cny", "stage", "name"),
        [
            (first.pk, Decimal("1234.50"), when, None, "repeat", "改过的"),
            (third.pk, 0, None, Decimal("9.99"), "vip", "三"),
        ],
    )
    Customer.objects.filter(pk=second.pk).update(total_spent_cny=Decimal("1234.50"), last_order_at=when)

    read = {
        c.pk: (c.total_spent_cny, c.last_order_at, c.avg_order_cny, c.stage, c.name)
        for c in Customer.objects.all()
    }
    assert read[first.pk] == (Decimal("1234.50"), when, None, "repeat", "改过的")
    assert read[third.pk] == (Decimal("0.00"), None, Decimal("9.99"), "vip", "三")
    assert read[second.pk][:2] == read[first.pk][:2]  # the same as the ORM's own update stores
    values_update(Customer, ("name",), [])  # nothing to do: no statement


def test_a_row_updated_reads_back_as_the_orms_update_stores_it_and_only_at_the_version_asked(owner):
    mine, theirs = (Customer.objects.create(customer_no=f"C90020{i}", name=f"客户{i}") for i in (1, 2))
    when = timezone.now().replace(microsecond=0) - timedelta(days=1)
    values = {
        "email": "li@example.com",  # encrypted
        "custom": {"尺码": "L"},
        "updated_at": when,
        "updated_by": owner.pk,
        "total_spent_cny": Decimal("88.80"),
        "version": 2,
    }

    assert row_update(Customer, mine.pk, values, where={"version": 1}) == 1
    Customer.objects.filter(pk=theirs.pk).update(**{**values, "updated_by": owner})
    assert row_update(Customer, mine.pk, {"name": "晚到的"}, where={"version": 1}) == 0  # at version 2 now

    read = {
        c.pk: (c.email, c.custom, c.updated_at, c.updated_by_id, c.total_spent_cny, c.version, c.name)
        for c in Customer.objects.all()
    }
    assert read[mine.pk] == ("li@example.com", {"尺码": "L"}, when, owner.pk, Decimal("88.80"), 2, "客户1")
    assert read[mine.pk][:-1] == read[theirs.pk][:-1]
    with connection.cursor() as cursor:  # stored as the same kind of value, the email encrypted
        cursor.execute(
            "SELECT email, custom FROM customers_customer WHERE id IN (%s, %s)", [mine.pk, theirs.pk]
        )
        stored = cursor.fetchall()
    assert "li@example.com" not in str(stored) and type(stored[0][1]) is type(stored[1][1])
