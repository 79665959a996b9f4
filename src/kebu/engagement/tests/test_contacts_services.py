"""Logging a contact: the rules of ``contact_log``, its attachments and its follow-up, and every bad input
refused with a message naming the field (or the file) and nothing written: no record, no follow-up, no
file on disk."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from kebu.audit.models import AuditEntry
from kebu.core.errors import Forbidden, NotFound, ValidationFailed
from kebu.customers.services import customer_archive
from kebu.customers.tests.factories import make_customer
from kebu.engagement import attachments
from kebu.engagement.models import Attachment, ContactRecord, FollowUp, FollowUpKind
from kebu.engagement.services.contacts import ContactInput, contact_log

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 6, 10, 9, 30, tzinfo=SHANGHAI)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"\x00" * 64
ZIP = b"PK\x03\x04" + b"\x00" * 64
EXE = b"MZ\x90\x00" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def a_customer(sales_a):
    return make_customer(actor=sales_a, name="张三", owner=sales_a)


@pytest.fixture
def b_customer(sales_b):
    return make_customer(actor=sales_b, name="王乙乙", owner=sales_b)


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def files_on_disk() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def nothing_written() -> bool:
    return (
        not ContactRecord.objects.exists()
        and not FollowUp.objects.exists()
        and not Attachment.objects.exists()
        and not files_on_disk()
        and not AuditEntry.objects.filter(action="contact.create").exists()
    )


def data(**fields) -> ContactInput:
    values = {"channel": "wechat", "summary": "问了新色号什么时候到货"}
    values.update(fields)
    return ContactInput(**values)


# --- what is kept ----------------------------------------------------------------------------------------


def test_logging_a_contact_keeps_who_when_and_what_and_writes_an_audit_entry(sales_a, a_customer):
    record = contact_log(
        actor=sales_a,
        customer=a_customer,
        data=data(direction="in", summary="  问了新色号什么时候到货  "),
    )

    record.refresh_from_db()
    assert (record.channel, record.direction, record.summary) == ("wechat", "in", "问了新色号什么时候到货")
    assert record.occurred_at == NOW
    assert record.created_by == sales_a
    entry = AuditEntry.objects.get(action="contact.create")
    assert entry.target_id == str(record.pk)
    assert entry.data["customer"] == a_customer.customer_no
    assert "问了" not in str(entry.data)  # the customer's words stay out of the unencrypted log


def test_a_next_step_with_a_due_date_becomes_exactly_one_follow_up_for_whoever_logged_it(sales_a, a_customer):
    due = date(2025, 6, 12)

    record = contact_log(actor=sales_a, customer=a_customer, data=data(next_step="寄色卡", next_step_due=due))

    followup = FollowUp.objects.get()
    assert (followup.kind, followup.contact, followup.assignee, followup.customer) == (
        FollowUpKind.NEXT_STEP,
        record,
        sales_a,
        a_customer,
    )
    assert (followup.due_on, followup.title) == (due, "寄色卡")


def test_a_next_step_due_today_is_accepted(sales_a, a_customer):
    contact_log(actor=sales_a, customer=a_customer, data=data(next_step="回电", next_step_due=NOW.date()))

    assert FollowUp.objects.get().due_on == NOW.date()


def test_a_next_step_without_a_due_date_is_kept_on_the_record_only(sales_a, a_customer):
    record = contact_log(actor=sales_a, customer=a_customer, data=data(next_step="等客户回复"))

    assert record.next_step == "等客户回复"
    assert not FollowUp.objects.exists()


def test_a_next_step_due_is_refused_to_a_role_without_follow_ups_and_nothing_is_written(
    staff_member, team_east
):
    from django.contrib.auth.models import Permission

    # A sales role an admin trimmed: may log contacts, may not add follow-ups.
    user = staff_member("sales", "no_followups", team=team_east)
    user.user_permissions.set(Permission.objects.filter(group__user=user).exclude(codename="add_followup"))
    user.groups.clear()
    user = type(user).objects.get(pk=user.pk)
    customer = make_customer(actor=user, name="李四", owner=user)

    with pytest.raises(ValidationFailed) as caught:
        contact_log(
            actor=user, customer=customer, data=data(next_step="寄色卡", next_step_due=date(2025, 6, 12))
        )
    record = contact_log(actor=user, customer=customer, data=data(next_step="寄色卡"))

    assert caught.value.field_errors == {
        "next_step_due": [
            "Your role may not add follow-ups: clear the due date to keep the next step on the record."
        ]
    }
    assert record.next_step == "寄色卡" and ContactRecord.objects.count() == 1
    assert not FollowUp.objects.exists()


def test_a_time_a_few_minutes_ahead_is_taken_as_clock_skew(sales_a, a_customer):
    ahead = NOW + timedelta(minutes=4)

    record = contact_log(actor=sales_a, customer=a_customer, data=data(occurred_at=ahead))

    assert record.occurred_at == ahead


def test_a_naive_time_is_read_in_the_shops_time_zone(sales_a, a_customer):
    record = contact_log(
        actor=sales_a, customer=a_customer, data=data(occurred_at=datetime(2025, 6, 9, 20, 15))
    )

    assert record.occurred_at == datetime(2025, 6, 9, 20, 15, tzinfo=SHANGHAI)


# --- bad input -------------------------------------------------------------------------------------------


def test_a_time_in_the_future_is_refused_and_nothing_is_written(sales_a, a_customer):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data(occurred_at=NOW + timedelta(minutes=10)))

    assert "in the future" in caught.value.field_errors["occurred_at"][0]
    assert nothing_written()


def test_a_due_date_in_the_past_is_refused_and_nothing_is_written(sales_a, a_customer):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(
            actor=sales_a,
            customer=a_customer,
            data=data(next_step="回电", next_step_due=date(2025, 6, 9)),
            files=[upload("chat.png", PNG)],
        )

    assert caught.value.field_errors["next_step_due"] == [
        "The due date 2025-06-09 has passed; choose today or a later day."
    ]
    assert nothing_written()


def test_a_due_date_without_a_next_step_is_refused(sales_a, a_customer):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(
            actor=sales_a, customer=a_customer, data=data(next_step="  ", next_step_due=date(2025, 6, 11))
        )

    assert caught.value.field_errors["next_step"] == ["Say what the next step is, or clear its due date."]
    assert nothing_written()


@pytest.mark.parametrize(
    ("summary", "message"),
    [("   ", "Write what was said."), ("话" * 4001, "The summary has 4001 characters; at most 4000 fit.")],
)
def test_an_empty_or_too_long_summary_is_refused(sales_a, a_customer, summary, message):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data(summary=summary))

    assert caught.value.field_errors["summary"] == [message]
    assert nothing_written()


def test_an_unknown_channel_and_direction_are_refused_together(sales_a, a_customer):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data(channel="fax", direction="sideways"))

    assert set(caught.value.field_errors) == {"channel", "direction"}
    assert nothing_written()


def test_an_exe_named_jpg_is_refused_naming_the_file_and_leaves_no_file(sales_a, a_customer):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(
            actor=sales_a,
            customer=a_customer,
            data=data(),
            files=[upload("ok.png", PNG), upload("截图.jpg", EXE)],
        )

    [message] = caught.value.field_errors["attachments"]
    assert "“截图.jpg” is not a picture or PDF" in message
    assert nothing_written()


def test_a_zip_named_jpg_is_refused(sales_a, a_customer):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data(), files=[upload("photo.jpg", ZIP)])

    assert "“photo.jpg”" in caught.value.field_errors["attachments"][0]
    assert nothing_written()


def test_a_picture_whose_name_says_another_type_is_refused(sales_a, a_customer):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data(), files=[upload("invoice.pdf", PNG)])

    assert caught.value.field_errors["attachments"] == [
        "“invoice.pdf” is a PNG file, not what its name says. Rename it to .png and try again."
    ]
    assert nothing_written()


def test_a_file_over_the_size_limit_is_refused_naming_it(sales_a, a_customer, settings):
    settings.ATTACHMENT_MAX_MB = 1
    big = PNG + b"\x00" * (1024 * 1024)

    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data(), files=[upload("big.png", big)])

    assert caught.value.field_errors["attachments"] == [
        "“big.png” is 1.0 MB; an attachment may be at most 1 MB."
    ]
    assert nothing_written()


def test_six_files_are_refused(sales_a, a_customer):
    six = [upload(f"chat{i}.png", PNG) for i in range(6)]

    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data(), files=six)

    assert caught.value.field_errors["attachments"] == ["At most 5 files can be attached; 6 were chosen."]
    assert nothing_written()


def test_an_empty_file_is_refused(sales_a, a_customer):
    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data(), files=[upload("blank.png", b"")])

    assert caught.value.field_errors["attachments"] == ["“blank.png” is empty."]
    assert nothing_written()


def test_a_colleagues_customer_is_not_found_and_nothing_is_written(sales_a, b_customer):
    with pytest.raises(NotFound):
        contact_log(actor=sales_a, customer=b_customer, data=data(), files=[upload("chat.png", PNG)])

    assert nothing_written()


def test_a_read_only_user_may_not_log_contacts(readonly, a_customer):
    with pytest.raises(Forbidden):
        contact_log(actor=readonly, customer=a_customer, data=data())

    assert nothing_written()


def test_an_archived_customer_gets_no_new_contacts(sales_a, a_customer):
    customer_archive(actor=sales_a, customer=a_customer)
    a_customer.refresh_from_db()

    with pytest.raises(ValidationFailed) as caught:
        contact_log(actor=sales_a, customer=a_customer, data=data())

    assert "archived" in caught.value.field_errors["customer"][0]
    assert not ContactRecord.objects.exists()


# --- attachments -----------------------------------------------------------------------------------------


def test_attachments_are_stored_under_generated_names_with_type_size_and_checksum(sales_a, a_customer):
    record = contact_log(
        actor=sales_a,
        customer=a_customer,
        data=data(),
        files=[upload("C:\\Users\\me\\微信截图.PNG", PNG), upload("../../报价单.pdf", PDF)],
    )

    shot, sheet = record.attachments.order_by("id")
    assert (shot.original_name, shot.content_type, shot.size_bytes) == ("微信截图.PNG", "image/png", len(PNG))
    assert (sheet.original_name, sheet.content_type) == ("报价单.pdf", "application/pdf")
    assert shot.sha256 == hashlib.sha256(PNG).hexdigest()
    assert re.fullmatch(r"attachments/2025/06/[0-9a-f]{32}\.png", shot.file.name)
    assert re.fullmatch(r"attachments/2025/06/[0-9a-f]{32}\.pdf", sheet.file.name)
    assert Path(shot.file.path).read_bytes() == PNG
    entry = AuditEntry.objects.get(action="contact.create")
    assert [a["sha256"] for a in entry.data["attachments"]] == [shot.sha256, sheet.sha256]


@pytest.mark.parametrize(
    ("head", "content_type"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (b"GIF89a" + b"\x00" * 10, "image/gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (PDF, "application/pdf"),
        (ZIP, None),
        (EXE, None),
        (b"<svg xmlns='http://www.w3.org/2000/svg'>", None),
    ],
)
def test_the_type_is_read_from_the_first_bytes(head, content_type):
    found = attachments.file_type_sniff(head[: attachments.HEAD_BYTES])

    assert (found.content_type if found else None) == content_type


def test_a_file_without_extension_is_kept_by_its_detected_type(sales_a, a_customer):
    record = contact_log(actor=sales_a, customer=a_customer, data=data(), files=[upload("image", JPEG)])

    attachment = record.attachments.get()
    assert attachment.content_type == "image/jpeg"
    assert attachment.file.name.endswith(".jpg")


def test_files_written_before_a_failure_are_removed_with_the_rolled_back_rows(sales_a, a_customer):
    record = ContactRecord.objects.create(
        customer=a_customer, channel="phone", summary="x", created_by=sales_a
    )

    with pytest.raises(RuntimeError), attachments.files_removed_on_error():
        attachments.attachment_store(upload=upload("chat.png", PNG), actor=sales_a, contact=record)
        assert len(files_on_disk()) == 1
        raise RuntimeError("a later write failed")

    assert files_on_disk() == []
