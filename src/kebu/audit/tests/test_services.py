from __future__ import annotations

import contextlib
import threading
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.db.transaction import TransactionManagementError
from django.test import RequestFactory

from kebu.audit.context import request_bound
from kebu.audit.models import GENESIS_HASH, AppendOnlyError, AuditEntry, AuditHead
from kebu.audit.services import audit_record, audit_records, audit_verify, entry_hash
from kebu.audit.tests.factories import guard_off, record, record_many, sql_delete, sql_set

pytestmark = pytest.mark.django_db


def _clear() -> None:
    """Start from an empty log (the personas' own account creations are entries too)."""
    with guard_off() as cursor:
        cursor.execute("DELETE FROM audit_auditentry")
        cursor.execute("DELETE FROM audit_audithead")


@pytest.fixture(autouse=True)
def empty_log():
    _clear()


def test_entries_are_numbered_from_one_and_each_links_to_the_one_before():
    first, second, third = record_many(3)

    assert [first.seq, second.seq, third.seq] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash and third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3
    assert AuditHead.objects.get().seq == 3 and AuditHead.objects.get().hash == third.hash


def test_an_intact_log_verifies():
    record_many(5)

    result = audit_verify(batch_size=2)

    assert result.ok and result.checked == 5 and result.first_broken_seq is None
    assert result.last_hash == AuditEntry.objects.get(seq=5).hash


def test_entries_written_together_are_the_entries_written_one_by_one(owner):
    before = record("customer.update", owner).seq  # after the owner's own entries
    written = audit_records(
        [
            {"action": "order.create", "actor": owner, "target_type": "orders.order", "target_id": 7},
            {"action": "customer.stage", "actor": None, "data": {"from": "lead", "to": "new"}},
            {"action": "order.create", "actor": owner, "ip": "203.0.113.9"},
        ]
    )

    stored = list(AuditEntry.objects.filter(seq__gte=before).order_by("seq").values())
    assert [e["seq"] - before for e in stored] == [0, 1, 2, 3]
    assert [e.seq for e in written] == [e["seq"] for e in stored[1:]]
    assert [e["prev_hash"] for e in stored[1:]] == [e["hash"] for e in stored[:-1]]
    assert all(entry_hash(e) == e["hash"] for e in stored)
    assert (stored[1]["target_id"], stored[2]["data"], stored[3]["ip"]) == (
        "7",
        {"from": "lead", "to": "new"},
        "203.0.113.9",
    )
    assert AuditHead.objects.get().seq == before + 3 and AuditHead.objects.get().hash == stored[-1]["hash"]
    assert audit_verify().ok and audit_records([]) == []


def test_an_empty_log_verifies():
    assert audit_verify().ok and audit_verify().checked == 0


def test_the_stored_row_hashes_to_its_hash(owner):
    entry = record("customer.update", owner, changes={"name": ["张三", "张三丰"]}, ip="203.0.113.9")

    stored = AuditEntry.objects.filter(pk=entry.pk).values().get()

    assert entry_hash(stored) == stored["hash"] == entry.hash


def test_a_target_instance_gives_type_id_and_name(owner, clerk):
    entry = record("auth.role_change", owner, target=clerk)

    assert (entry.target_type, entry.target_id, entry.target_repr) == ("accounts.user", str(clerk.pk), "小王")
    assert entry.actor == owner and entry.actor_label == "laoban"


def test_the_address_comes_from_the_current_request():
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.23")

    with request_bound(request):
        entry = record()
    outside = record()

    assert entry.ip == "198.51.100.23"
    assert outside.ip is None


def test_values_the_databases_would_rewrite_are_stored_as_read_back_and_still_verify():
    entry = record(
        data={
            "float": 1e20,
            "money": Decimal("12.50"),
            "nul": "a\x00b",
            "surrogate": "\ud800x",
            1: ("t", "u"),
            "nested": {"z": None, "a": True},
        },
        target_repr="x" * 500,
        ip="2001:0DB8:0:0:0:0:0:1",
    )

    entry.refresh_from_db()

    assert entry.data["float"] == "1e+20" and entry.data["money"] == "12.50"
    assert entry.data["1"] == ["t", "u"] and "\x00" not in entry.data["nul"]
    assert len(entry.target_repr) == 200 and entry.ip == "2001:db8::1"
    assert audit_verify().ok


def test_a_rolled_back_change_leaves_no_entry_and_the_head_where_it_was():
    record()
    head_before = AuditHead.objects.values("seq", "hash").get()

    with pytest.raises(RuntimeError), transaction.atomic():
        record("customer.delete")
        raise RuntimeError("the change failed after it was audited")

    assert AuditEntry.objects.count() == 1
    assert AuditHead.objects.values("seq", "hash").get() == head_before
    assert record().seq == 2
    assert audit_verify().ok


def test_a_change_whose_entry_could_not_be_written_cannot_be_committed(monkeypatch):
    from django.contrib.auth.models import Group

    def broken_hash(row):
        raise RuntimeError("no keyring")

    monkeypatch.setattr("kebu.audit.services.entry_hash", broken_hash)

    with pytest.raises(TransactionManagementError), transaction.atomic():
        Group.objects.create(name="审计失败")
        with contextlib.suppress(RuntimeError):  # a careless caller carries on
            record()
        Group.objects.create(name="审计失败2")

    assert not Group.objects.filter(name__startswith="审计失败").exists()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("changes", {"name": ["张三", "李四"]}),
        ("data", {"rows": 1}),
        ("action", "customer.restore"),
        ("actor_label", "someone"),
        ("ip", "192.0.2.1"),
        ("target_id", "999"),
        ("hash", "f" * 64),
    ],
)
def test_an_entry_edited_in_the_database_is_reported_at_its_number(column, value):
    record_many(5)

    sql_set(3, column, value)
    result = audit_verify()

    assert not result.ok
    assert result.first_broken_seq == 3 and result.checked == 2
    assert result.reason


def test_an_edit_that_also_rewrites_the_next_link_is_still_caught_at_the_edited_entry():
    record_many(4)
    sql_set(2, "action", "customer.restore")
    sql_set(3, "prev_hash", "a" * 64)

    assert audit_verify().first_broken_seq == 2


def test_a_deleted_entry_is_reported_as_missing():
    record_many(5)

    sql_delete(3)
    result = audit_verify(batch_size=2)

    assert not result.ok and result.first_broken_seq == 3
    assert "3" in result.reason


def test_a_deleted_newest_entry_is_reported_from_the_head():
    record_many(3)

    sql_delete(3)
    result = audit_verify()

    assert not result.ok and result.first_broken_seq == 3


def test_renumbering_after_a_deletion_breaks_the_chain():
    record_many(4)
    sql_delete(2)
    sql_set(3, "seq", 2)

    assert audit_verify().first_broken_seq == 2


def test_the_orm_refuses_to_change_delete_or_bypass_entries():
    entry = record()

    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="x.y")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.create(seq=99, action="x.y", prev_hash="", hash="")
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.bulk_create([AuditEntry(seq=99, action="x.y")])


def test_the_database_refuses_an_update_behind_the_orms_back():
    entry = record()

    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET action = 'x.y' WHERE seq = %s", [entry.seq])


def test_an_unknown_but_well_formed_action_is_kept_and_a_malformed_one_refused():
    assert record("shop.settings_change").action_label == "shop.settings_change"
    with pytest.raises(ValueError):
        record("not an action")


def test_a_lost_head_is_rebuilt_from_the_newest_entry():
    record_many(2)
    AuditHead.objects.all().delete()

    assert record().seq == 3
    assert audit_verify().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_get_every_number_once_and_the_chain_holds():
    """Two processes' worth of writers: on PostgreSQL the head's row lock makes them queue."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database is shared-cache: concurrent writers fail at once")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            barrier.wait()
            for i in range(50):
                with transaction.atomic():
                    audit_record(action="customer.update", actor=None, target_id=str(i))
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    _clear()
    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, 101))
    result = audit_verify()
    assert result.ok and result.checked == 100
