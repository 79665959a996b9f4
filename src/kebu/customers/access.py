"""What someone may do to a customer they can see. Which customers they can see at all is the
selectors' rule (``customer_visible_queryset``); these checks come after it, so a customer someone may
not see answers "not found" before any of these could answer "forbidden".

Every check reads a permission, never a role's name (kebu.accounts.roles)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils.translation import gettext as _

from kebu.core.errors import Forbidden

VIEW = "customers.view_customer"
ADD = "customers.add_customer"
CHANGE = "customers.change_customer"
VIEW_CONTACT = "customers.view_contact"
REVEAL = "customers.reveal_contact"
ASSIGN = "customers.assign_customer"
EXPORT = "customers.export_customer"
VIEW_ALL = "customers.view_all_customers"
VIEW_TEAM = "customers.view_team_customers"


def can(user: Any, *perms: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perms(perms))


def can_edit(user: Any) -> bool:
    """Editing a profile shows and saves every contact detail in full, so it needs both permissions: a
    form of masked values would either leak on the page or overwrite the real ones on save."""
    return can(user, CHANGE, VIEW_CONTACT)


def can_assign(user: Any) -> bool:
    return can(user, ASSIGN)


def can_archive(user: Any, customer: Any) -> bool:
    """Archiving takes a customer out of every list and search, the shared pool's included, for everyone
    who works with it. So it goes as a release does: an owner archives their own, and someone allowed to
    assign customers (a manager) any they see. A clerk sees the shared pool to claim from it, not to
    empty it: a customer nobody owns is not theirs to archive. Restoring follows the same rule, so a
    customer a manager took out of the pool is not put back by a clerk."""
    if not can(user, CHANGE):
        return False
    return can_assign(user) or (customer.owner_id is not None and customer.owner_id == user.pk)


def require(user: Any, *perms: str, message: Any = None) -> None:
    if not can(user, *perms):
        raise Forbidden(message or _("You do not have permission to do that."))


def require_edit(user: Any) -> None:
    if not can_edit(user):
        raise Forbidden(_("Your role may not change customer profiles."))


class ShellOperator:
    """Whoever runs a command in the shell under no staff member's name (``kebu export``, ``kebu import``
    without ``--user``). They hold the database and its keys, so they read what it holds: every
    customer, contact details unmasked. Stands in for a user where a read asks who reads
    (``customer_visible_queryset``, ``privacy.contact_policy``, the list selectors); it is nobody, so a
    write under no one's name takes ``actor=None``, never this."""

    is_authenticated = True
    is_active = True
    is_superuser = True
    team_id = None
    pk = None

    def has_perm(self, perm: str) -> bool:
        return True

    def has_perms(self, perms: Iterable[str]) -> bool:
        return True
