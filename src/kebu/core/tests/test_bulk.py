"""``objects_insert``: rows stored exactly as a save stores them, ids set, and never an id twice."""

from __future__ import annotations

import pytest
from django.db import connection

from kebu.core.bulk import objects_insert
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
