"""Roles, written down as code and kept as Django groups an admin can edit.

A role is only a starting set of permissions. Kebu never asks which role someone has: every check reads a
permission (``customers.view_contact``, ``customers.assign_customer``, …), so an admin who edits a group in
the Django admin changes what its members may do, and a shop may add roles of its own.

The groups are created by the migration ``accounts/0003_roles``. An app that brings new permissions later
grants them to a role from its own migration with :func:`role_permissions_grant`, which adds and never
removes, so what an admin changed by hand stays changed.

A group is found by the Chinese name it was created with, so that name stays what is stored; it is
shown in the reader's language (:func:`role_name`) until the shop renames the group, then as written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps as global_apps
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kebu.core.text import seeded_name

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Role:
    key: str
    name: str  # the group's name when created; an admin may rename it, nothing depends on it
    label: Promise  # how the role reads while its group keeps that name
    description: Any
    # "app_label.codename", or "app_label.*" for every permission of an app. A permission that does not
    # exist (an app not installed yet) is skipped.
    permissions: tuple[str, ...]


_CUSTOMER_WORK = (
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.view_contact",
)
_ORDER_WORK = (
    "orders.view_order",
    "orders.add_order",
    "orders.change_order",
    "orders.view_aftersale",
    "orders.add_aftersale",
    "orders.change_aftersale",
    "orders.view_product",
    "orders.view_creditpayment",
)
_ORDER_READ = ("orders.view_order", "orders.view_aftersale", "orders.view_product")
# Keeping the shop's stores (sales channels): a manager's, like the catalogue. Seeing them needs only
# view_order (every order names its store).
STORE_SETUP = ("orders.view_store", "orders.add_store", "orders.change_store")
# Service work (kebu.engagement): every touch with the customers one may see.
SERVICE_WORK = (
    "engagement.view_contactrecord",
    "engagement.add_contactrecord",
    "engagement.view_ticket",
    "engagement.add_ticket",
    "engagement.change_ticket",
    "engagement.view_feedback",
    "engagement.add_feedback",
    "engagement.view_preference",
    "engagement.change_preference",
    "engagement.view_survey",
    "engagement.add_surveyinvitation",
    "engagement.view_followup",
    "engagement.add_followup",
    "engagement.change_followup",
)
SERVICE_READ = (
    "engagement.view_contactrecord",
    "engagement.view_ticket",
    "engagement.view_feedback",
    "engagement.view_preference",
    "engagement.view_survey",
    "engagement.view_followup",
)
# What a manager adds: the shop's service rules, surveys, and the whole team's tickets and figures.
SERVICE_LEAD = (
    "engagement.view_all_tickets",
    "engagement.add_survey",
    "engagement.change_survey",
    "engagement.view_followupplan",
    "engagement.add_followupplan",
    "engagement.change_followupplan",
    "engagement.view_slapolicy",
    "engagement.change_slapolicy",
)
# The dashboard and the scores of the customers one may see; shop-wide analyses and "compute now" apart.
INSIGHTS_VIEW = ("insights.view_insights",)
INSIGHTS_SHOP = ("insights.view_shop_insights", "insights.run_insights")
INSIGHTS_SETTINGS = ("insights.view_scoresettings", "insights.change_scoresettings")

ROLES: dict[str, Role] = {
    role.key: role
    for role in (
        Role(
            key="admin",
            name="管理员",
            label=pgettext_lazy("role", "Admin"),
            description=_("Owner or admin: everything, including settings, roles and the audit log."),
            permissions=(
                "customers.*",
                "orders.*",
                "transfer.*",
                "engagement.*",
                "insights.*",
                "accounts.*",
                "auth.*",
                "core.*",
                "audit.*",
                "axes.*",
                "otp_totp.*",
                "otp_static.*",
            ),
        ),
        Role(
            key="manager",
            name="主管",
            label=pgettext_lazy("role", "Manager"),
            description=_("Manager: the team's customers with contact details; assigns and exports."),
            permissions=(
                *_CUSTOMER_WORK,
                "customers.view_team_customers",
                "customers.assign_customer",
                "customers.export_customer",
                *_ORDER_WORK,
                "orders.add_product",
                "orders.change_product",
                "orders.add_creditpayment",
                "orders.manage_credit",
                *STORE_SETUP,
                *SERVICE_WORK,
                *SERVICE_LEAD,
                *INSIGHTS_VIEW,
                *INSIGHTS_SHOP,
                *INSIGHTS_SETTINGS,
            ),
        ),
        Role(
            key="sales",
            name="销售/客服",
            label=pgettext_lazy("role", "Sales / service"),
            description=_("Sales or service staff: their own customers and the shared pool."),
            permissions=(*_CUSTOMER_WORK, *_ORDER_WORK, *SERVICE_WORK, *INSIGHTS_VIEW),
        ),
        Role(
            key="analyst",
            name="分析师",
            label=pgettext_lazy("role", "Analyst"),
            description=_("Analyst: every customer, contact details masked, changes nothing."),
            permissions=(
                "customers.view_customer",
                "customers.view_all_customers",
                *_ORDER_READ,
                "orders.view_creditpayment",
                *SERVICE_READ,
                "engagement.view_all_tickets",
                *INSIGHTS_VIEW,
                *INSIGHTS_SHOP,
                "insights.view_scoresettings",
            ),
        ),
        Role(
            key="readonly",
            name="只读",
            label=pgettext_lazy("role", "Read-only"),
            description=_("Read-only: every customer, masked; may reveal one detail at a time (audited)."),
            permissions=(
                "customers.view_customer",
                "customers.view_all_customers",
                "customers.reveal_contact",
                *_ORDER_READ,
                *SERVICE_READ,
                *INSIGHTS_VIEW,
            ),
        ),
    )
}


def role_name(name: str) -> str:
    """A group's name as the reader sees it: a role's in the reader's language while its group is still
    called as Kebu made it (or by the role's name in any of the shop's languages), else as the shop
    named it."""
    for role in ROLES.values():
        shown = seeded_name(name=name, default=role.label, seeded=role.name)
        if shown != name:
            return shown
    return name


def _permissions(apps: Any, names: Iterable[str]) -> list[Any]:
    """The Permission rows behind ``names``; names that match nothing are logged and skipped."""
    Permission = apps.get_model("auth", "Permission")
    found: list[Any] = []
    for name in names:
        app_label, _dot, codename = name.partition(".")
        rows = Permission.objects.filter(content_type__app_label=app_label)
        if codename != "*":
            rows = rows.filter(codename=codename)
        rows = list(rows)
        if not rows and codename != "*":
            logger.debug("Role permission %s does not exist (yet); skipped.", name)
        found.extend(rows)
    return found


def permissions_ensure(apps: Any = global_apps) -> None:
    """Create the permission rows now rather than after ``migrate`` ends (Django's post_migrate), so a
    data migration can hand them to groups."""
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, apps=apps, verbosity=0)


def roles_sync(*, apps: Any = global_apps, keys: Iterable[str] | None = None) -> None:
    """Create each role's group (found by its name) and set its permissions to the role's definition.

    Meant for a fresh install and for tests; on a running shop it would undo an admin's edits, which is
    why later migrations use :func:`role_permissions_grant` instead."""
    Group = apps.get_model("auth", "Group")
    permissions_ensure(apps)
    for key in keys if keys is not None else ROLES:
        role = ROLES[key]
        group, _created = Group.objects.get_or_create(name=role.name)
        group.permissions.set(_permissions(apps, role.permissions))


def role_permissions_grant(*, apps: Any = global_apps, key: str, permissions: Iterable[str]) -> None:
    """Add ``permissions`` to a role's group, if the group still exists under its original name."""
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=ROLES[key].name).first()
    if group is None:
        logger.warning("The group of role %s was renamed or deleted; grant its permissions by hand.", key)
        return
    permissions_ensure(apps)
    group.permissions.add(*_permissions(apps, permissions))


def role_group(key: str) -> Any:
    """The group of a role, created with the role's permissions if it is missing (tests flush tables)."""
    from django.contrib.auth.models import Group

    group = Group.objects.filter(name=ROLES[key].name).first()
    if group is None:
        roles_sync(keys=[key])
        group = Group.objects.get(name=ROLES[key].name)
    return group


def role_assign(*, user: Any, key: str) -> None:
    """Put ``user`` in a role's group (the admin does this in the staff member's page)."""
    user.groups.add(role_group(key))
    # Django caches a user's permissions on the instance; the next check must see the new group.
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)
