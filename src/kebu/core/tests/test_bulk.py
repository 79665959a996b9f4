"""``objects_insert`` and ``values_insert``: rows stored exactly as a save stores them, ids set, never
an id twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from kebu.core.bulk import objects_insert, values_insert
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
