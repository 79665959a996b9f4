"""Small write helpers every app's services share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError, connection, models, transaction
from django.utils.translation import gettext as _

from kebu.core.errors import Conflict
from kebu.core.models import IdempotencyKey, Sequence

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
