"""Every write to a customer leaves its audit entry, in its own transaction, with contact details masked."""

from __future__ import annotations

import json

import pytest
from django.db import transaction

from kebu.audit.models import AuditEntry
from kebu.audit.services import audit_verify
from kebu.core.errors import Conflict, ValidationFailed
from kebu.customers.services import (
    CustomerInput,
    PhoneInput,
    customer_archive,
    customer_create,
    customer_input_from,
    customer_restore,
    customer_update,
)

pytestmark = pytest.mark.django_db


def _actions() -> list[str]:
    entries = AuditEntry.objects.filter(action__startswith="customer.").order_by("seq")
    return list(entries.values_list("action", flat=True))


def test_create_update_archive_restore_are_audited_with_masked_changes(owner):
    customer = customer_create(
        actor=owner,
        data=CustomerInput(name="赵六", email="zhao6@qq.com", phones=[PhoneInput(number="13812345678")]),
    )
    data = customer_input_from(customer)
    data.phones = [PhoneInput(number="13987654321")]
    data.email = "liu.zhao@163.com"
    customer = customer_update(actor=owner, customer=customer, data=data, expected_version=customer.version)
    customer_archive(actor=owner, customer=customer)
    customer_restore(actor=owner, customer=customer)

    assert _actions() == ["customer.create", "customer.update", "customer.archive", "customer.restore"]
    update = AuditEntry.objects.get(action="customer.update")
    assert (update.actor, update.target_id) == (owner, str(customer.pk))
    assert update.changes["phones"] == ["138****5678", "139****4321"]
    assert update.changes["email"] == ["z***@qq.com", "l***@163.com"]
    stored = json.dumps([e.changes for e in AuditEntry.objects.all()], ensure_ascii=False)
    for secret in ("13812345678", "13987654321", "zhao6@qq.com", "liu.zhao@163.com"):
        assert secret not in stored
    assert audit_verify().ok


def test_a_change_that_fails_or_rolls_back_writes_no_entry(owner):
    customer = customer_create(actor=owner, data=CustomerInput(name="钱七"))
    before = AuditEntry.objects.count()

    with pytest.raises(ValidationFailed):
        customer_create(actor=owner, data=CustomerInput(phones=[PhoneInput(number="12345")]))
    with pytest.raises(Conflict):
        customer_update(actor=owner, customer=customer, data=CustomerInput(name="钱八"), expected_version=99)
    with pytest.raises(RuntimeError), transaction.atomic():
        customer_update(actor=owner, customer=customer, data=CustomerInput(name="钱九"), expected_version=1)
        raise RuntimeError("the request failed after the save")

    assert AuditEntry.objects.count() == before
    customer.refresh_from_db()
    assert customer.name == "钱七"
    assert audit_verify().ok
