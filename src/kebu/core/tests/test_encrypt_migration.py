"""A shop that ran Kebu before encryption: migrating encrypts what it had, and search still finds it."""

from __future__ import annotations

import pytest
from django.db import connection

from kebu.core.tests.migrations import migrate, migrate_to_latest
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_list

BEFORE = [("customers", "0003_roles_permissions")]
AFTER = [("customers", "0004_encrypt_personal_data")]


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    """Later tests need today's tables, whatever migration a test stopped at."""
    yield
    migrate_to_latest()


@pytest.mark.django_db(transaction=True)
def test_plain_rows_are_encrypted_and_their_lookups_rebuilt(owner):
    migrate(BEFORE)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers_customer (customer_no, name, name_pinyin, name_initials, gender, "
            "birthday_is_lunar, email, email_lookup, customer_type, stage, notes, custom, province, city, "
            "primary_phone, version, created_at, updated_at) VALUES ('C000009', '王五', 'wangwu', 'ww', '', "
            "%s, 'Wang.Wu@QQ.com', 'wang.wu@qq.com', 'individual', 'lead', '老客户', '{}', '', '', "
            "'+8613912345678', 1, %s, %s)",
            [False, "2026-01-01 00:00:00+00:00", "2026-01-01 00:00:00+00:00"],
        )
        cursor.execute("SELECT id FROM customers_customer WHERE customer_no = 'C000009'")
        (customer_id,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO customers_customerphone (customer_id, number, number_lookup, last4_lookup, label, "
            "position) VALUES (%s, '+8613912345678', '+8613912345678', '5678', 'mobile', 0)",
            [customer_id],
        )
        cursor.execute(
            "INSERT INTO customers_socialaccount (customer_id, kind, kind_label, handle, handle_lookup) "
            "VALUES (%s, 'wechat', '', 'WangWu_88', 'wangwu_88')",
            [customer_id],
        )
    migrate(AFTER)
    migrate_to_latest()

    customer = Customer.objects.get(customer_no="C000009")
    assert (customer.email, customer.notes, customer.primary_phone) == (
        "Wang.Wu@QQ.com",
        "老客户",
        "+8613912345678",
    )
    assert customer.socials.get().handle == "WangWu_88"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT email, notes, primary_phone FROM customers_customer WHERE id = %s", [customer_id]
        )
        assert all(v.startswith("kebu1$") for v in cursor.fetchone())
    for query in ("13912345678", "5678", "wang.wu@qq.com", "wangwu_88"):
        rows, _ = customer_list(user=owner, filters={"q": query})
        assert list(rows) == [customer], query


@pytest.mark.django_db(transaction=True)
def test_old_timeline_entries_lose_their_plain_contact_details(owner):
    apps = migrate([("customers", "0004_encrypt_personal_data")])
    CustomerEvent = apps.get_model("customers", "CustomerEvent")
    customer = apps.get_model("customers", "Customer").objects.create(customer_no="C000010", name="老客")
    old = {
        "phones": ["+8613912345678", "+8613912345678, +8613800001111"],
        "email": ["", "lao.ke@qq.com"],
        "notes": ["", "住在三楼"],
        "addresses": ["", "浙江省杭州市西湖区文三路 1 号"],
        "socials": ["", "微信: laoke_wx"],
        "stage": ["lead", "vip"],
    }
    event = CustomerEvent.objects.create(customer=customer, kind="customer.updated", data={"changes": old})
    migrate([("customers", "0005_mask_old_timeline")])

    changes = CustomerEvent.objects.get(pk=event.pk).data["changes"]
    assert changes["phones"] == ["139****5678", "139****5678, 138****1111"]
    assert changes["email"] == ["", "l***@qq.com"]
    assert changes["notes"] == ["", "…"] and changes["addresses"] == ["", "****"]
    assert changes["socials"] == ["", "微信: l***x"]
    assert changes["stage"] == ["lead", "vip"]
