"""Writing the audit log, checking its chain, exporting it.

Each entry's ``hash`` is an HMAC-SHA256, under a key derived from the keyring's MAC secret
(``keyring().mac("audit", …)``), of a canonical JSON of the entry and the previous entry's hash.
Someone with only the database cannot recompute it after editing, deleting or inserting a row,
so :func:`audit_verify` finds the first entry that no longer fits."""

from __future__ import annotations

import csv
import hmac
import ipaddress
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address
from django.utils.translation import gettext as _

from kebu.audit import display
from kebu.audit.context import current_ip
from kebu.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from kebu.audit.selectors import AuditFilters, audit_entry_list
from kebu.core.bulk import objects_insert
from kebu.core.crypto import keyring

HASH_VERSION = 1
HEAD_PK = 1
BATCH_SIZE = 2000
ACTION_PATTERN = re.compile(r"[a-z][a-z0-9_]*\.[a-z0-9_]+")
# Cells a spreadsheet would run as a formula: a failed login's "username" is typed by anyone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_ENTRY_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_label",
    "ip",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "changes",
    "data",
    "prev_hash",
    "hash",
)


# --- canonical form ---------------------------------------------------------------------------------


def _text(value: Any, limit: int | None = None) -> str:
    """A string both databases store as given: no NUL (PostgreSQL refuses it), no lone surrogates
    (not UTF-8), cut to the column's length, so what is hashed is exactly what is stored."""
    text = str(value).replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")
    return text[:limit] if limit is not None else text


def _json_value(value: Any) -> Any:
    """``value`` as JSON that reads back identically from SQLite's text and PostgreSQL's jsonb.
    jsonb rewrites numbers (1e20 comes back as 100000000000000000000) and has no NaN, so floats,
    Decimals, dates and anything else become strings; keys become strings, sequences lists."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, Mapping):
        return {_text(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_json_value(v) for v in items]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return _text(value)  # floats, Decimals, model instances, anything else: as people read it


def _ip(value: Any) -> str | None:
    """One spelling per address (the one Django stores), whatever the database hands back."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    if ":" in text:
        return clean_ipv6_address(text)
    return str(ipaddress.IPv4Address(text))


def _canonical(row: Mapping[str, Any]) -> bytes:
    at = row["at"]
    payload = {
        "v": HASH_VERSION,
        "seq": int(row["seq"]),
        "at": at.astimezone(UTC).isoformat(),
        "actor_id": row["actor_id"],
        "actor_label": row["actor_label"],
        "ip": _ip(row["ip"]),
        "action": row["action"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "target_repr": row["target_repr"],
        "changes": row["changes"],
        "data": row["data"],
        "prev_hash": row["prev_hash"],
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(row: Mapping[str, Any]) -> str:
    """The HMAC an entry must carry; ``row`` maps the entry's field names (``actor_id``) to values."""
    return keyring().mac("audit", _canonical(row)).hex()


# --- writing ----------------------------------------------------------------------------------------


def _lock_head() -> AuditHead:
    """The head row, locked until the caller's transaction ends: concurrent writers queue here (on
    PostgreSQL by the row lock; SQLite's IMMEDIATE transactions already hold the write lock)."""
    head = AuditHead.objects.select_for_update().filter(pk=HEAD_PK).first()
    if head is not None:
        return head
    # First entry ever, or the tables were emptied: carry on from the newest entry there is.
    last = AuditEntry.objects.order_by("-seq").values("seq", "hash").first()
    try:
        with transaction.atomic():
            AuditHead.objects.create(
                pk=HEAD_PK, seq=last["seq"] if last else 0, hash=last["hash"] if last else GENESIS_HASH
            )
    except IntegrityError:
        pass  # another writer created it first; its lock is taken below, after its commit
    return AuditHead.objects.select_for_update().get(pk=HEAD_PK)


def audit_record(
    *,
    action: str,
    actor: Any,
    target: models.Model | None = None,
    changes: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    target_type: str = "",
    target_id: str | int = "",
    target_repr: str = "",
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry to the audit log, chained to the one before, inside the caller's transaction:
    if the change it records is rolled back, so is the entry (and nothing is left to explain).

    - ``action``: a name such as ``customer.update`` (see ``AuditAction``; other ``area.verb`` names
      are accepted and shown by their code).
    - ``actor``: the staff member who did it, or None for the system, a command or an anonymous
      visitor. The username is kept with the entry, so it survives the account.
    - ``target``: the model instance acted on; fills ``target_type`` (``customers.customer``),
      ``target_id`` and ``target_repr`` (its ``str()``), each of which may also be given directly.
    - ``changes``: ``{field: [before, after]}``. ``data``: anything else (``{"rows": 120}``).
      Values are stored as JSON; numbers that are not integers, dates and Decimals become strings.
      **Never pass plaintext contact details** (phones, addresses, email, social accounts): pass the
      masked value (``138****5678``). The log is kept for good and is not encrypted.
    - ``ip``: the client address; by default the current request's (see ``AuditContextMiddleware``),
      none outside a request. Pass ``""`` to record none.

    Call it as the service's last write: it locks the log's head until the transaction ends, so every
    other writer of the log (logins included) waits for this transaction from that moment on, and a
    lock taken after it could deadlock with a transaction that holds that lock and waits for the head.
    """
    [entry] = audit_records(
        [
            dict(
                action=action,
                actor=actor,
                target=target,
                changes=changes,
                data=data,
                target_type=target_type,
                target_id=target_id,
                target_repr=target_repr,
                ip=ip,
            )
        ]
    )
    return entry


def audit_records(records: Sequence[Mapping[str, Any]]) -> list[AuditEntry]:
    """Append several entries, in this order, each ``records`` item the keyword arguments of
    :func:`audit_record`: the same entries and chain as one call each, with the head locked and moved
    once, for a service that writes many records in one transaction (an import's batch of orders)."""
    entries = [_entry(**record) for record in records]
    if not entries:
        return []
    # No savepoint: if writing the entries fails, the caller's whole transaction is spoiled, so a caller
    # that catches the error still cannot commit its change without them.
    with transaction.atomic(savepoint=False):
        head = _lock_head()
        seq, previous = head.seq, head.hash
        for entry in entries:
            seq += 1
            entry.seq, entry.at, entry.prev_hash = seq, timezone.now(), previous
            entry.hash = previous = entry_hash({name: getattr(entry, name) for name in _ENTRY_FIELDS})
        if len(entries) == 1:
            entries[0]._chained = True  # type: ignore[attr-defined]
            entries[0].save()
        else:
            # Around the model's guard against bulk writes (AuditEntryQuerySet), which would bypass the
            # chain: these entries are chained above, and inserted exactly as a save stores them.
            objects_insert(AuditEntry, entries)
        AuditHead.objects.filter(pk=HEAD_PK).update(seq=seq, hash=previous)
    return entries


def _entry(
    *,
    action: str,
    actor: Any,
    target: models.Model | None = None,
    changes: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    target_type: str = "",
    target_id: str | int = "",
    target_repr: str = "",
    ip: str | None = None,
) -> AuditEntry:
    """An entry as :func:`audit_record` describes it, not yet numbered, chained or saved."""
    if not ACTION_PATTERN.fullmatch(action) or len(action) > 64:
        raise ValueError(f"Not an audit action name: {action!r}")
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None  # AnonymousUser
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or (target.pk if target.pk is not None else "")
        target_repr = target_repr or str(target)
    return AuditEntry(
        actor=actor,
        actor_label=_text(actor.get_username(), 150) if actor is not None else "",
        ip=_ip(current_ip() if ip is None else ip),
        action=action,
        target_type=_text(target_type, 100),
        target_id=_text(target_id, 64),
        target_repr=_text(target_repr, 200),
        changes=_json_value(dict(changes or {})),
        data=_json_value(dict(data or {})),
    )


# --- verifying --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int  # entries found intact before the first broken one (all of them when ok)
    first_broken_seq: int | None
    reason: str
    last_hash: str = ""  # the newest intact entry's hash: note it down to detect a later rewrite


def audit_verify(*, batch_size: int = BATCH_SIZE) -> VerifyResult:
    """Walk the whole log in number order, a batch at a time, and report the first entry that is
    missing, out of its chain, or changed; then check that the head agrees with the last entry (the
    newest entries deleted)."""
    expected = 1
    prev_hash = GENESIS_HASH
    checked = 0

    def broken(seq: int, reason: str) -> VerifyResult:
        return VerifyResult(
            ok=False, checked=checked, first_broken_seq=seq, reason=reason, last_hash=prev_hash
        )

    stray = AuditEntry.objects.filter(seq__lt=1).order_by("seq").values_list("seq", flat=True).first()
    if stray is not None:
        return broken(stray, _("Entry #%(seq)d has a number the log never gives out.") % {"seq": stray})
    while True:
        batch = list(
            AuditEntry.objects.filter(seq__gte=expected).order_by("seq").values(*_ENTRY_FIELDS)[:batch_size]
        )
        for row in batch:
            if row["seq"] != expected:
                if row["seq"] == expected + 1:
                    reason = _("Entry #%(seq)d is missing: it was deleted.") % {"seq": expected}
                else:
                    reason = _("Entries #%(first)d to #%(last)d are missing: they were deleted.") % {
                        "first": expected,
                        "last": row["seq"] - 1,
                    }
                return broken(expected, reason)
            if not hmac.compare_digest(row["prev_hash"], prev_hash):
                return broken(
                    expected,
                    _("It does not link to entry #%(prev)d: entries were removed or reordered.")
                    % {"prev": expected - 1},
                )
            if not hmac.compare_digest(row["hash"], entry_hash(row)):
                return broken(
                    expected,
                    _(
                        "Its contents do not match its hash: it was changed after it was written "
                        "(or the keyring is not the one this log was written with)."
                    ),
                )
            prev_hash = row["hash"]
            expected += 1
            checked += 1
        if len(batch) < batch_size:
            break
    last = expected - 1
    head = AuditHead.objects.filter(pk=HEAD_PK).values("seq", "hash").first()
    if head is None:
        if last:
            return broken(last + 1, _("The log's head is missing: the newest entries may have been deleted."))
    elif head["seq"] > last:
        if head["seq"] == last + 1:
            reason = _("Entry #%(seq)d is missing: the newest entry was deleted.") % {"seq": last + 1}
        else:
            reason = _("Entries #%(first)d to #%(last)d are missing: the newest entries were deleted.") % {
                "first": last + 1,
                "last": head["seq"],
            }
        return broken(last + 1, reason)
    elif head["seq"] < last or head["hash"] != prev_hash:
        return broken(
            min(head["seq"] + 1, last),
            _("The log's head does not match its last entry: entries were altered."),
        )
    return VerifyResult(ok=True, checked=checked, first_broken_seq=None, reason="", last_hash=prev_hash)


# --- exporting --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditExport:
    rows: int
    lines: Iterator[str]  # CSV text, header first; iterate once, after the recording transaction


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""


def _csv_lines(qs: Any) -> Iterator[str]:
    """The entries as the log's page reads them (``kebu.audit.display``: the same words, so the page and
    the file cannot tell different stories), with the codes and the stored JSON beside them for
    programs: the action's code, the target's type and id, the changes and details as kept."""
    from kebu.audit.models import ACTION_LABELS

    writer = csv.writer(_Echo())
    # A BOM first: Excel then reads the file as UTF-8 and shows Chinese, not mojibake.
    yield "\ufeff" + writer.writerow(
        [
            _("Entry number"),
            _("Time"),
            _("Actor"),
            _("IP address"),
            _("Action"),
            _("Action code"),
            _("Target type"),
            _("Target id"),
            _("Target"),
            _("Changes"),
            _("Details"),
            _("Changes (JSON)"),
            _("Details (JSON)"),
            _("Hash"),
        ]
    )
    last = 0
    while True:
        batch = list(qs.filter(seq__gt=last).order_by("seq")[:BATCH_SIZE])
        colon = display.colon()
        for row in display.entries_text(batch):
            entry = row.entry
            changes = display.lines_join(
                f"{label}{colon}{before} → {after}" if before else f"{label}{colon}{after}"
                for label, before, after in row.changes
            )
            details = display.lines_join(f"{label}{colon}{value}" for label, value in row.details)
            yield writer.writerow(
                [
                    _cell(v)
                    for v in (
                        entry.seq,
                        timezone.localtime(entry.at).strftime("%Y-%m-%d %H:%M:%S"),
                        entry.actor_label,
                        entry.ip or "",
                        str(ACTION_LABELS.get(entry.action, entry.action)),
                        entry.action,
                        entry.target_type,
                        entry.target_id,
                        display.target_text(entry),
                        changes,
                        details,
                        _json(entry.changes),
                        _json(entry.data),
                        entry.hash,
                    )
                ]
            )
            last = entry.seq
        if len(batch) < BATCH_SIZE:
            return


def audit_export(*, actor: Any, filters: AuditFilters | None = None, ip: str | None = None) -> AuditExport:
    """The entries matching ``filters``, oldest first, as CSV, and an ``audit.export`` entry saying
    who exported how many rows with which filters. The rows are those that existed when the export
    was recorded, so the count is exact (the export's own entry is not in it)."""
    filters = filters or AuditFilters()
    with transaction.atomic():
        upto = AuditEntry.objects.aggregate(last=Max("seq"))["last"] or 0
        qs = audit_entry_list(filters=filters).filter(seq__lte=upto)
        rows = qs.count()
        audit_record(
            action="audit.export", actor=actor, data={"rows": rows, "filters": filters.as_data()}, ip=ip
        )
    return AuditExport(rows=rows, lines=_csv_lines(qs))
