"""Files kept with contact records and tickets: checking an upload, storing it, handing it back.

An upload is accepted only when its first bytes say it is a PNG, JPEG, GIF, WebP or HEIC picture or a
PDF, whatever its name claims; a name whose extension says another type (a zip or an .exe renamed
``.jpg``) is refused with a message naming the file. The file is stored under a generated name
(``attachments/YYYY/MM/<random>.<ext of the detected type>``), never the user's; the name they gave is
kept, without any folder part, only to be shown and offered on download.

Everything is checked before anything is written (:func:`attachments_check`), so a bad file leaves
neither a row nor a file. Files are written inside the caller's transaction; :func:`files_removed_on_error`
deletes the ones it saw written when the block fails, so a rolled-back record leaves no file behind.

Who may download an attachment is decided by the record it belongs to (:func:`attachment_visible_queryset`):
a contact record's when its customer is visible, a ticket's when the ticket is. Downloads are sent with
the detected type, ``X-Content-Type-Options: nosniff`` and ``Content-Disposition: attachment`` (pictures
inline, so they open in the browser), and a sandboxing CSP, so no upload can run as a page of Kebu's.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _

from kebu.core.errors import NotFound, ValidationFailed
from kebu.engagement.access import VIEW_ALL_TICKETS, of_visible_customers, of_visible_customers_or_assigned
from kebu.engagement.models import Attachment, ContactRecord, Ticket

MAX_FILES_PER_RECORD = 5
# Enough to tell every accepted type apart (WebP and HEIC put their mark at bytes 8–12).
HEAD_BYTES = 32
NAME_LIMIT = 200  # Attachment.original_name


@dataclass(frozen=True)
class FileType:
    content_type: str
    extension: str  # the one given to the stored file
    names: frozenset[str]  # the extensions a user's file of this type may carry
    label: str
    inline: bool  # shown in the browser rather than downloaded


PNG = FileType("image/png", "png", frozenset({"png"}), "PNG", True)
JPEG = FileType("image/jpeg", "jpg", frozenset({"jpg", "jpeg", "jpe", "jfif"}), "JPEG", True)
GIF = FileType("image/gif", "gif", frozenset({"gif"}), "GIF", True)
WEBP = FileType("image/webp", "webp", frozenset({"webp"}), "WebP", True)
# iPhone photos. Browsers other than Safari cannot show them, so they are downloaded, not inlined.
HEIC = FileType("image/heic", "heic", frozenset({"heic", "heif"}), "HEIC", False)
PDF = FileType("application/pdf", "pdf", frozenset({"pdf"}), "PDF", False)
ACCEPTED = (PNG, JPEG, GIF, WEBP, HEIC, PDF)
# The extensions a name may carry at all: anything else ("report.exe", "x.zip") says another type.
ACCEPTED_NAMES = frozenset().union(*(t.names for t in ACCEPTED))
# The accept= hint for the file input; the bytes decide, not this.
ACCEPT_ATTRIBUTE = ",".join(
    sorted({t.content_type for t in ACCEPTED} | {f".{name}" for t in ACCEPTED for name in t.names})
)
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def file_type_sniff(head: bytes) -> FileType | None:
    """The accepted type these first bytes begin, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in _HEIC_BRANDS:
        return HEIC
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def max_bytes() -> int:
    return int(settings.ATTACHMENT_MAX_MB) * 1024 * 1024


def display_name(name: str, file_type: FileType) -> str:
    """The user's file name as shown: no folders (``C:\\fakepath\\…`` or ``../../x``), no control
    characters, at most 200 characters with its extension kept; never empty."""
    base = PurePosixPath(str(name).replace("\\", "/")).name
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().strip(".")
    if not base:
        return f"attachment.{file_type.extension}"
    if len(base) > NAME_LIMIT:
        stem, dot, ext = base.rpartition(".")
        ext = ext[:20] if dot else ""
        base = (stem if dot else base)[: NAME_LIMIT - len(ext) - 1].rstrip() + (f".{ext}" if ext else "")
    return base


def _extension(name: str) -> str:
    base = PurePosixPath(str(name).replace("\\", "/")).name
    stem, dot, ext = base.rpartition(".")
    return ext.lower().strip() if dot and stem else ""


@dataclass(frozen=True)
class CheckedUpload:
    upload: Any  # a Django UploadedFile (or File): .name, .size, .read(), .seek(), .chunks()
    file_type: FileType
    name: str  # as shown


def attachment_check(upload: Any) -> CheckedUpload:
    """``upload`` if it is a file Kebu keeps, else ``ValidationFailed`` on ``attachments`` naming it."""
    return attachments_check([upload])[0]


def attachments_check(uploads: Sequence[Any]) -> list[CheckedUpload]:
    """Every upload checked (count, size, content against name) before any is stored. All problems are
    reported together, each naming its file, under the field ``attachments``."""
    errors: list[str] = []
    if len(uploads) > MAX_FILES_PER_RECORD:
        errors.append(
            _("At most %(max)d files can be attached; %(count)d were chosen.")
            % {"max": MAX_FILES_PER_RECORD, "count": len(uploads)}
        )
    checked: list[CheckedUpload] = []
    limit = max_bytes()
    for upload in uploads:
        raw_name = str(getattr(upload, "name", "") or "")
        name = display_name(raw_name, PDF) if raw_name.strip() else _("(a file without a name)")
        size = getattr(upload, "size", None)
        if size is None or size <= 0:
            errors.append(_("“%(name)s” is empty.") % {"name": name})
            continue
        if size > limit:
            errors.append(
                _("“%(name)s” is %(size)s MB; an attachment may be at most %(max)d MB.")
                % {"name": name, "size": f"{size / 1024 / 1024:.1f}", "max": settings.ATTACHMENT_MAX_MB}
            )
            continue
        upload.seek(0)
        head = upload.read(HEAD_BYTES)
        upload.seek(0)
        file_type = file_type_sniff(head)
        extension = _extension(raw_name)
        if file_type is None:
            errors.append(
                _(
                    "“%(name)s” is not a picture or PDF (its content does not match its name). "
                    "Attach PNG, JPEG, GIF, WebP or HEIC pictures and PDF files."
                )
                % {"name": name}
            )
            continue
        if extension and extension not in file_type.names:
            errors.append(
                _(
                    "“%(name)s” is a %(type)s file, not what its name says. "
                    "Rename it to .%(ext)s and try again."
                )
                % {"name": name, "type": file_type.label, "ext": file_type.extension}
            )
            continue
        shown = display_name(raw_name, file_type)
        checked.append(CheckedUpload(upload=upload, file_type=file_type, name=shown))
    if errors:
        raise ValidationFailed(errors[0], field_errors={"attachments": errors})
    return checked


# --- storing ---------------------------------------------------------------------------------------------

# The files written inside the innermost files_removed_on_error() block of this thread or task.
_written: ContextVar[list[str] | None] = ContextVar("attachments_written", default=None)


@contextmanager
def files_removed_on_error() -> Iterator[None]:
    """Delete the files :func:`attachment_store` wrote inside this block if the block raises: the
    rows naming them are rolled back with the caller's transaction, and so must the files be.

    A service uses it inside its ``transaction.atomic``; it cannot see a commit that fails after the
    block returned, which on SQLite (the write lock is taken up front) and PostgreSQL (no deferred
    constraints here) means a lost connection: the file is then left without a row, never a row
    without its file."""
    written: list[str] = []
    token = _written.set(written)
    try:
        yield
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    finally:
        _written.reset(token)


def attachment_store(
    *,
    upload: Any,
    actor: Any,
    contact: ContactRecord | None = None,
    ticket: Ticket | None = None,
    checked: CheckedUpload | None = None,
) -> Attachment:
    """Check ``upload`` (unless ``checked`` already is) and keep it with ``contact`` or ``ticket``,
    under a generated name, with its SHA-256 and detected type. Call it inside the service's
    transaction and :func:`files_removed_on_error`; the service's own audit entry names the files
    (:func:`attachment_audit`), since the audit entry must be a transaction's last write."""
    if (contact is None) == (ticket is None):
        raise ValueError("An attachment belongs to one contact record or one ticket.")
    item = checked or attachment_check(upload)
    digest = hashlib.sha256()
    size = 0
    item.upload.seek(0)
    for chunk in item.upload.chunks():
        digest.update(chunk)
        size += len(chunk)
    item.upload.seek(0)
    attachment = Attachment(
        contact=contact,
        ticket=ticket,
        original_name=item.name,
        content_type=item.file_type.content_type,
        size_bytes=size,
        sha256=digest.hexdigest(),
        created_by=actor,
    )
    # upload_to adds attachments/YYYY/MM/; the name is random, its extension the detected type's.
    attachment.file.save(f"{secrets.token_hex(16)}.{item.file_type.extension}", item.upload, save=False)
    written = _written.get()
    if written is not None and attachment.file.name:
        written.append(attachment.file.name)
    attachment.save()
    return attachment


def attachment_audit(attachments: Sequence[Attachment]) -> list[dict[str, Any]]:
    """What an audit entry keeps of stored attachments: id, type, size and checksum (not the name,
    which may carry a customer's name)."""
    return [
        {"id": a.pk, "type": a.content_type, "size": a.size_bytes, "sha256": a.sha256} for a in attachments
    ]


# --- reading ---------------------------------------------------------------------------------------------


def attachment_visible_queryset(*, user: Any) -> QuerySet[Attachment]:
    """The attachments whose record ``user`` may see: a contact record's with ``view_contactrecord``
    and its customer visible; a ticket's with ``view_ticket`` and the ticket visible (its customer,
    assigned to the user, or ``view_all_tickets``)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Attachment.objects.none()
    visible = Q(pk__in=[])
    if user.has_perm("engagement.view_contactrecord"):
        contacts = of_visible_customers(ContactRecord.objects.all(), user=user)
        visible |= Q(contact__in=contacts.values("pk"))
    if user.has_perm("engagement.view_ticket"):
        tickets = (
            Ticket.objects.all()
            if user.has_perm(VIEW_ALL_TICKETS)
            else of_visible_customers_or_assigned(Ticket.objects.all(), user=user)
        )
        visible |= Q(ticket__in=tickets.values("pk"))
    return Attachment.objects.filter(visible)


def attachment_get_for_actor(*, actor: Any, attachment_id: Any) -> Attachment:
    """One attachment ``actor`` may see, or ``NotFound`` (missing and hidden alike)."""
    try:
        return attachment_visible_queryset(user=actor).get(pk=int(attachment_id))
    except (Attachment.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def attachment_response(attachment: Attachment) -> FileResponse:
    """The file as a download (pictures inline), typed by what was detected at upload, never sniffed."""
    file_type = next((t for t in ACCEPTED if t.content_type == attachment.content_type), None)
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404 from exc
    response = FileResponse(
        handle,
        as_attachment=not (file_type and file_type.inline),
        filename=attachment.original_name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=0, no-store"
    return response
