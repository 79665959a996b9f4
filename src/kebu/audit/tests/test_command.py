from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.utils import timezone

from kebu.audit.models import AuditEntry
from kebu.audit.tests.factories import record_many, sql_set

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("audit", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_verify_says_ok_and_exits_zero_for_an_intact_chain():
    record_many(3)
    total = AuditEntry.objects.count()

    code, out, _err = run("verify")

    assert code == 0
    assert out.splitlines()[0] == f"OK: {total} entries, chain intact"


def test_verify_names_the_first_broken_entry_and_exits_one():
    entries = record_many(3)
    sql_set(entries[1].seq, "changes", {"name": ["a", "b"]})

    code, _out, err = run("verify")

    assert code == 1
    assert err.startswith(f"BROKEN at entry #{entries[1].seq}: ")


def test_export_writes_a_csv_file_and_records_itself(tmp_path):
    record_many(2)
    total = AuditEntry.objects.count()
    target = tmp_path / "audit.csv"

    code, _out, err = run("export", "--output", str(target))

    raw = target.read_bytes()
    assert code == 0 and raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 1 + total
    export = AuditEntry.objects.get(action="audit.export")
    assert export.actor is None and export.data["rows"] == total
    assert str(total) in err


def test_export_since_a_date_leaves_out_older_entries(tmp_path):
    tz = timezone.get_default_timezone()
    with time_machine.travel(datetime(2020, 1, 1, 12, tzinfo=tz), tick=False):
        record_many(2)
    newer = AuditEntry.objects.filter(at__gte=datetime(2021, 1, 1, tzinfo=tz)).count()
    target = tmp_path / "audit.csv"

    run("export", "--output", str(target), "--since", "2021-01-01")

    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert len(rows) == 1 + newer
    assert (
        AuditEntry.objects.get(action="audit.export")
        .data["filters"]["since"]
        .startswith("2021-01-01T00:00:00")
    )


def test_export_refuses_a_date_it_cannot_read(tmp_path):
    with pytest.raises(CommandError):
        call_command("audit", "export", "--output", str(tmp_path / "x.csv"), "--since", "yesterday")
