"""Personal data at rest: encrypted columns, blind indexes, the keyring check and key rotation."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess

import pytest
from django.core.exceptions import FieldError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection

from kebu.audit.models import AuditEntry
from kebu.core import crypto
from kebu.core.keys import keys_pending, keys_rotate, keys_usage
from kebu.core.lookup import phone_lookup
from kebu.core.models import EncryptionKey
from kebu.customers.models import Customer, CustomerEvent, CustomerPhone
from kebu.customers.selectors import customer_list
from kebu.customers.services import (
    AddressInput,
    CustomerInput,
    PhoneInput,
    SocialInput,
    customer_create,
    customer_input_from,
    customer_update,
)

PHONE, EMAIL, HANDLE = "13812345678", "Zhang.San@Example.com", "zhangsan_wx_8848"
STREET, NOTE = "科技园南区高新南一道99号", "喜欢绿茶，不要打电话到单位"


@pytest.fixture
def own_keyring(db, settings, tmp_path):
    """A keyring of this test's own, so swapping it cannot disturb the other tests. The test database
    forgets the suite's keyring, which migrating it recorded."""
    settings.DATA_DIR = tmp_path
    crypto.keyring_reset()
    EncryptionKey.objects.all().delete()
    yield tmp_path / "keys" / "keyring.json"
    crypto.keyring_reset()


def _customer(actor) -> Customer:
    return customer_create(
        actor=actor,
        allow_duplicate_phone=True,
        data=CustomerInput(
            name="张三",
            email=EMAIL,
            notes=NOTE,
            phones=[PhoneInput(number=PHONE)],
            addresses=[
                AddressInput(
                    province="广东省", city="深圳市", district="南山区", detail=STREET, receiver_phone=PHONE
                )
            ],
            socials=[SocialInput(kind="wechat", handle=HANDLE)],
        ),
    )


SECRETS = [PHONE, "+86" + PHONE, EMAIL, EMAIL.lower(), HANDLE, STREET, NOTE]


def _assert_absent(raw: bytes) -> None:
    for secret in SECRETS:
        assert secret.encode("utf-8") not in raw, f"{secret!r} is stored in the clear"


def test_a_value_round_trips_and_never_encrypts_the_same_way_twice(own_keyring):
    one = crypto.encrypt(PHONE, context="t.phone")
    two = crypto.encrypt(PHONE, context="t.phone")
    assert one != two and PHONE not in one
    assert crypto.decrypt(one, context="t.phone") == PHONE


def test_a_value_copied_into_another_column_does_not_decrypt(own_keyring):
    sealed = crypto.encrypt(PHONE, context="customers.customer.email")
    with pytest.raises(crypto.KeyringError, match="does not decrypt"):
        crypto.decrypt(sealed, context="customers.customer.notes")


def test_blind_indexes_are_keyed(own_keyring):
    first = phone_lookup("+86" + PHONE)
    assert first == phone_lookup("+86" + PHONE) and PHONE not in first
    own_keyring.unlink()
    crypto.keyring_reset()
    assert phone_lookup("+86" + PHONE) != first  # another shop's key gives another digest


@pytest.mark.django_db
def test_the_model_reads_plain_text_and_the_table_holds_ciphertext(owner):
    customer = _customer(owner)
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.email, fresh.notes, fresh.primary_phone) == (EMAIL, NOTE, "+86" + PHONE)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT email, notes, primary_phone FROM customers_customer WHERE id = %s", [customer.pk]
        )
        raw = cursor.fetchone()
    assert all(value.startswith("kebu1$") for value in raw)


@pytest.mark.django_db
def test_comparing_an_encrypted_column_by_value_is_refused_not_silently_empty():
    with pytest.raises(FieldError, match="encrypted"):
        list(CustomerPhone.objects.filter(number="+86" + PHONE))
    assert list(Customer.objects.filter(email="")) == []


@pytest.mark.django_db
def test_search_by_phone_last4_email_and_handle_goes_through_the_blind_indexes(owner):
    customer = _customer(owner)
    for query in (PHONE, "+86 138-1234-5678", "5678", EMAIL.upper(), HANDLE):
        rows, _ = customer_list(user=owner, filters={"q": query})
        assert list(rows) == [customer], query


def _edit_everything(owner, customer: Customer) -> None:
    data = customer_input_from(customer)
    data.phones = [PhoneInput(number="13900001111")]
    data.email = "li.si@example.com"
    customer_update(actor=owner, customer=customer, data=data, expected_version=customer.version)


@pytest.mark.django_db(transaction=True)
def test_the_raw_sqlite_file_holds_no_phone_email_address_handle_or_note(owner, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL twin reads a pg_dump")
    customer = _customer(owner)
    _edit_everything(owner, customer)  # the timeline keeps the change: masked, never the numbers
    assert CustomerEvent.objects.filter(kind="customer.updated").exists()
    copy = tmp_path / "copy.sqlite3"
    with connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(copy)])
    raw = copy.read_bytes()
    assert "张三".encode() in raw  # the copy is real: the name is not personal data we encrypt
    _assert_absent(raw)
    assert b"13900001111" not in raw and b"li.si@example.com" not in raw
    assert sqlite3.connect(copy).execute("SELECT COUNT(*) FROM customers_customer").fetchone() == (1,)


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_dump_holds_no_phone_email_address_handle_or_note(owner):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    customer = _customer(owner)
    _edit_everything(owner, customer)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to read what PostgreSQL stores (Debian: postgresql-client)")
    params = connection.get_connection_params()
    dump = subprocess.run(
        [
            pg_dump,
            "--data-only",
            "-h",
            params.get("host") or "127.0.0.1",
            "-p",
            str(params.get("port") or 5432),
            "-U",
            params.get("user") or "postgres",
            connection.settings_dict["NAME"],
        ],
        capture_output=True,
        check=True,
        env={**os.environ, "PGPASSWORD": params.get("password") or ""},
    ).stdout
    assert "张三".encode() in dump
    _assert_absent(dump)
    assert b"13900001111" not in dump and b"li.si@example.com" not in dump


@pytest.mark.django_db
def test_a_wrong_keyring_stops_the_app_with_a_clear_message(owner, own_keyring):
    _customer(owner)
    crypto.keyring_check()  # first start: the database learns this keyring
    assert EncryptionKey.objects.count() == 2  # the data key and the index secret
    original = own_keyring.read_text()
    own_keyring.unlink()
    crypto.keyring_reset()  # a new keyring is made where the old one was lost
    with pytest.raises(crypto.KeyringError, match="missing from the keyring"):
        crypto.keyring_check()
    with pytest.raises(SystemCheckError, match="Restore the keys folder"):
        call_command("check")
    # Same key ids, other key material: a keyring from another install.
    doc = json.loads(original)
    doc["data_keys"] = {kid: crypto._b64(b"x" * 32) for kid in doc["data_keys"]}
    own_keyring.write_text(json.dumps(doc))
    crypto.keyring_reset()
    with pytest.raises(crypto.KeyringError, match="not the one this database was written with"):
        crypto.keyring_check()
    own_keyring.write_text(original)
    crypto.keyring_reset()
    crypto.keyring_check()
    assert Customer.objects.get().email == EMAIL


@pytest.mark.django_db
def test_an_unreadable_keyring_says_so(own_keyring):
    own_keyring.parent.mkdir(parents=True, exist_ok=True)
    own_keyring.write_text("{not json")
    crypto.keyring_reset()
    with pytest.raises(crypto.KeyringError, match="not readable"):
        crypto.keyring()


@pytest.mark.django_db
def test_rotation_killed_half_way_leaves_the_app_usable_and_resumes(owner, owner_client, own_keyring):
    customers = [_customer(owner) for _ in range(5)]
    crypto.keyring_check()
    old_key = crypto.keyring().active

    partial = keys_rotate(batch_size=2, max_batches=1)  # as if killed after the first batch
    new_key = partial.key_id
    assert partial.started_new_key and not partial.finished and new_key != old_key
    usage = keys_usage()
    assert usage[old_key] > 0 and usage[new_key] > 0

    # Meanwhile the app reads and writes customers under both keys.
    for customer in customers:
        response = owner_client.get(f"/customers/{customer.pk}/")
        assert response.status_code == 200
    rows, _ = customer_list(user=owner, filters={"q": PHONE})
    assert len(rows) == 5
    _edit_everything(owner, customers[-1])

    resumed = keys_rotate(batch_size=2)
    assert resumed.key_id == new_key and not resumed.started_new_key and resumed.finished
    assert keys_pending() == 0 and set(keys_usage()) == {new_key}
    assert EncryptionKey.objects.get(key_id=old_key).retired_at is not None
    assert {c.email for c in Customer.objects.all()} == {EMAIL, "li.si@example.com"}

    again = keys_rotate(batch_size=50)  # a finished rotation: the next run starts a new key
    assert again.started_new_key and again.finished and again.key_id not in {old_key, new_key}
    runs = AuditEntry.objects.filter(action="keys.rotate").order_by("seq")
    assert [(e.target_id, e.data["finished"]) for e in runs] == [
        (new_key, False),
        (new_key, True),
        (again.key_id, True),
    ]


@pytest.mark.django_db
def test_the_keys_command_reports_and_rotates(owner, own_keyring, capsys):
    _customer(owner)
    call_command("keys", "rotate", "--batch-size", "1")
    call_command("keys", "status")
    out = capsys.readouterr().out
    assert "done: every value is under" in out and "keyring matches this database" in out


@pytest.mark.django_db
def test_two_rotations_at_once_are_refused(owner, own_keyring):
    from kebu.core.keys import _rotation_lock

    with _rotation_lock(), pytest.raises(crypto.KeyringError, match="Another key rotation"):
        keys_rotate()


def test_a_keyring_that_vanishes_while_serving_keeps_the_loaded_keys(own_keyring, monkeypatch):
    sealed = crypto.encrypt(PHONE, context="t.phone")
    active = crypto.keyring().active
    own_keyring.unlink()
    monkeypatch.setattr(crypto, "RELOAD_EVERY_SECONDS", 0.0)
    assert crypto.keyring().active == active  # no new keyring made behind the database's back
    assert crypto.decrypt(sealed, context="t.phone") == PHONE
    assert not own_keyring.exists()
