"""The shop's stores (sales channels): added and changed, never deleted.

A store that has orders cannot be deleted (the orders' foreign key protects it), and one without orders
is not deleted either: reviews, import runs and the dashboard's daily figures refer to it by id, and a
store added by mistake can be renamed or taken out of use. An inactive store keeps its orders and its
place in the reports; it is only no longer offered for new orders and imports.

Names are unique without regard to case, because order imports find a store by its name that way
(``kebu.transfer.orders``): "JD旗舰店" and "jd旗舰店" would be one store to a sheet's store column."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import ValidationFailed
from kebu.orders.models import Platform, Store

NAME_MAX_LENGTH = Store._meta.get_field("name").max_length or 50
# A PositiveSmallIntegerField holds 0..32767 on every database Kebu runs on.
POSITION_MAX = 32767


def store_closed_message(store: Store) -> str:
    """Why ``store`` takes no new order: it is deactivated, and where to turn it back on."""
    return _(
        "The store “%(name)s” is deactivated and takes no new orders: re-activate it on the Stores page "
        "(Orders › Stores) to add orders to it."
    ) % {"name": store.name}


def _name_taken_message(name: str) -> str:
    return _("There is already a store named “%(name)s”.") % {"name": name}


def store_errors(
    *, name: str, platform: str, position: int, store: Store | None = None
) -> dict[str, list[Any]]:
    """The field errors a store with these values would be refused with (``store`` the one being
    changed, if any): what the services check, for a form that shows them before saving (the admin)."""
    errors: dict[str, list[Any]] = {}
    name = name.strip()
    if not name:
        errors["name"] = [_("Enter the store's name.")]
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = [
            _("A store's name has at most %(max)d characters (this one has %(n)d).")
            % {"max": NAME_MAX_LENGTH, "n": len(name)}
        ]
    else:
        others = Store.objects.exclude(pk=store.pk) if store is not None else Store.objects.all()
        # In Python, not the database: SQLite's lower() folds ASCII only, and the import matches with
        # str.lower(), so this is the comparison that must agree with it.
        wanted = name.lower()
        if any(other.lower() == wanted for other in others.values_list("name", flat=True)):
            errors["name"] = [_name_taken_message(name)]
    if platform not in Platform.values:
        errors["platform"] = [_("Choose one of the platforms.")]
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= POSITION_MAX:
        errors["position"] = [_("Enter a whole number from 0 to %(max)d.") % {"max": POSITION_MAX}]
    return errors


def _refuse(errors: dict[str, list[Any]]) -> None:
    if errors:
        raise ValidationFailed(_("The store was not saved; correct the marked fields."), field_errors=errors)


def _save(store: Store, **kwargs: Any) -> None:
    """Save, turning a name taken meanwhile by someone else (the unique column) into the same field
    error the check gives."""
    try:
        with transaction.atomic():
            store.save(**kwargs)
    except IntegrityError as exc:
        raise ValidationFailed(
            _("The store was not saved; correct the marked fields."),
            field_errors={"name": [_name_taken_message(store.name)]},
        ) from exc


@transaction.atomic
def store_create(*, actor: Any, name: str, platform: str, position: int = 0) -> Store:
    """A new, active store; audited as ``store.create``. Raises ``ValidationFailed`` naming the field
    (``name``, ``platform``, ``position``) and writes nothing if a value is refused."""
    name = name.strip()
    _refuse(store_errors(name=name, platform=platform, position=position, store=None))
    store = Store(name=name, platform=platform, position=position, is_active=True)
    _save(store)
    audit_record(
        action="store.create",
        actor=actor,
        target=store,
        data={"name": name, "platform": platform, "position": position},
    )
    return store


@transaction.atomic
def store_update(
    *,
    actor: Any,
    store: Store,
    name: str | None = None,
    platform: str | None = None,
    position: int | None = None,
    is_active: bool | None = None,
) -> Store:
    """Change the given fields of ``store`` (None keeps a field as it is); audited as ``store.update``
    with each changed field's old and new value, and not at all when nothing changed. Orders keep their
    store: a renamed store's orders show the new name, a deactivated one's stay counted."""
    new_name = store.name if name is None else name.strip()
    new_platform = store.platform if platform is None else platform
    new_position = store.position if position is None else position
    _refuse(store_errors(name=new_name, platform=new_platform, position=new_position, store=store))
    fields: dict[str, Any] = {
        "name": new_name,
        "platform": new_platform,
        "position": new_position,
        "is_active": store.is_active if is_active is None else bool(is_active),
    }
    changes = {
        field: [getattr(store, field), value]
        for field, value in fields.items()
        if getattr(store, field) != value
    }
    if not changes:
        return store
    for field, value in fields.items():
        setattr(store, field, value)
    _save(store, update_fields=list(changes))
    audit_record(action="store.update", actor=actor, target=store, changes=changes)
    return store
