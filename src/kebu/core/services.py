"""Small write helpers every app's services share, and the one write of the shop settings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Conflict, ValidationFailed
from kebu.core.models import (
    SHOP_SETTINGS_FIELDS,
    IdempotencyKey,
    Sequence,
    ShopSettings,
    shop_settings_changed,
)

M = TypeVar("M", bound=models.Model)


def sequence_next(*, name: str, count: int = 1) -> int:
    """Reserve ``count`` numbers from the named sequence and return the first.

    Runs inside the caller's transaction: on PostgreSQL the row lock, on SQLite the IMMEDIATE
    write lock, keeps two writers from taking the same number."""
    # One statement where the ORM takes three (read, add, read again): numbering is on every order's path.
    table = Sequence._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET value = value + %s WHERE name = %s RETURNING value",  # noqa: S608 (a table name)
            [count, name],
        )
        row = cursor.fetchone()
    if row is None:  # the sequence's first number
        Sequence.objects.get_or_create(name=name)
        return sequence_next(name=name, count=count)
    return int(row[0]) - count + 1


def idempotent(
    *, key: str | None, scope: str, actor: Any, model: type[M], create: Callable[[], M], fingerprint: str = ""
) -> M:
    """Run ``create`` once per (actor, scope, key); a repeat of the same request returns the first result.

    The same key with a different ``fingerprint`` (a hash of the input) is a different request reusing
    a key, e.g. a form the browser restored with Back and filled in anew: that raises ``Conflict``
    instead of quietly answering with the first object and dropping the second.

    Runs inside the caller's transaction. On SQLite the IMMEDIATE write lock serialises two requests with
    the same key. On PostgreSQL both may pass the lookup; the slower one then waits on the key's unique
    index, fails, rolls back only its savepoint (its half-made object) and returns the winner's object."""
    if not key:
        return create()
    existing = IdempotencyKey.objects.filter(actor=actor, scope=scope, key=key).first()
    if existing:
        return _replayed(existing, model=model, fingerprint=fingerprint)
    try:
        with transaction.atomic():
            obj = create()
            IdempotencyKey.objects.create(
                actor=actor, scope=scope, key=key, object_id=obj.pk, fingerprint=fingerprint
            )
    except IntegrityError:
        existing = IdempotencyKey.objects.filter(actor=actor, scope=scope, key=key).first()
        if existing is None:
            raise
        return _replayed(existing, model=model, fingerprint=fingerprint)
    return obj


def _replayed(existing: IdempotencyKey, *, model: type[M], fingerprint: str) -> M:
    if existing.fingerprint != fingerprint:
        raise Conflict(
            _("This form was already used to save something else. Reload the page to start afresh.")
        )
    return model._default_manager.get(pk=existing.object_id)


def settings_fields_set(
    row: models.Model, data: Mapping[str, Any], fields: Iterable[str], *, refusal: str
) -> None:
    """Set on a settings row the ``fields`` that ``data`` names, then have the model check them all
    together (its validators and ``clean``); refused as ``ValidationFailed(refusal)`` with each field's
    error, the row then to be thrown away. Shared by the shop settings and the scoring settings."""
    for name in fields:
        if name in data:
            setattr(row, name, data[name])
    try:
        row.full_clean()
    except ValidationError as exc:
        raise ValidationFailed(refusal, field_errors=exc.message_dict) from exc


def _stale() -> Conflict:
    return Conflict(_("Someone changed the shop settings meanwhile, so yours were not saved."))


@dataclass(frozen=True)
class ShopSettingsSaved:
    row: ShopSettings
    changes: dict[str, list[Any]] = field(default_factory=dict)  # {name: [before, after]}, as audited
    replies: list[str] = field(default_factory=list)  # what the apps that act on the change answered


@transaction.atomic
def shop_settings_update(
    *, actor: Any, data: Mapping[str, Any], expected_updated_at: datetime | None = None
) -> ShopSettingsSaved:
    """Save the shop settings from ``data`` (only the names in SHOP_SETTINGS_FIELDS; the model's
    validators check them), the one way they are changed, from the settings page or the admin.

    A change is saved, told to the apps that act on it (``shop_settings_changed``: the stage rules
    place every customer again) and audited as ``settings.change`` with each value before and after,
    all in one transaction: a receiver that fails takes the change back. Saving what is already there
    writes nothing. ``expected_updated_at``, the time of the save the form was shown, refuses with
    ``Conflict`` a form older than a colleague's save, which would otherwise put back what they changed;
    the row is written only if it is still the one read (both databases, as SQLite locks no row)."""
    row = ShopSettings.current()
    if expected_updated_at is not None and row.updated_at != expected_updated_at:
        raise _stale()
    read_at = row.updated_at
    before = {name: getattr(row, name) for name in SHOP_SETTINGS_FIELDS}
    refusal = _("The shop settings were not saved; correct the marked fields.")
    settings_fields_set(row, data, SHOP_SETTINGS_FIELDS, refusal=refusal)
    changes = {
        name: [_plain(name, before[name]), _plain(name, getattr(row, name))]
        for name in SHOP_SETTINGS_FIELDS
        if before[name] != getattr(row, name)
    }
    if not changes:
        return ShopSettingsSaved(row=row)
    row.updated_at = timezone.now()
    written = ShopSettings.objects.filter(pk=row.pk, updated_at=read_at).update(
        updated_at=row.updated_at, **{name: getattr(row, name) for name in changes}
    )
    if not written:
        raise _stale()
    # The receivers write too (a queued job): before the audit entry, which must be the last write.
    answers = shop_settings_changed.send(sender=ShopSettings, changed=set(changes), actor=actor)
    audit_record(action="settings.change", actor=actor, target=row, changes=changes)
    return ShopSettingsSaved(row=row, changes=changes, replies=[str(reply) for _r, reply in answers if reply])


def _plain(name: str, value: Any) -> Any:
    """A value the audit log's JSON holds as the setting reads: money with its two decimals ("5000.00")
    whether or not it came back from the database."""
    if isinstance(value, Decimal):
        places = ShopSettings._meta.get_field(name).decimal_places  # type: ignore[union-attr]
        return f"{value:.{places}f}"
    return value
