"""Sign-ins, lockouts and changes to who may do what, recorded from Django's and django-axes' signals.

Changes made through the admin (a role added to a colleague, "staff status" ticked) reach the log
here, with the admin who made them as the actor (from the request, see ``kebu.audit.context``),
in the transaction that saves them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.http import HttpRequest

from kebu.audit.context import client_ip, current_user
from kebu.audit.services import audit_record

USERNAME_MAX = 150
# The team decides what a manager sees, so moving someone between teams is a role change too.
USER_FLAGS = ("is_active", "is_staff", "is_superuser", "team_id")


def _ip_of(request: HttpRequest | None) -> str | None:
    return client_ip(request) if request is not None else None


def _user_named(username: str) -> Any:
    if not username:
        return None
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()


def _attempted_username(credentials: dict[str, Any] | None) -> str:
    value = (credentials or {}).get(get_user_model().USERNAME_FIELD) or ""
    return str(value)[:USERNAME_MAX]


# --- signing in and out -----------------------------------------------------------------------------


def on_logged_in(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    audit_record(action="auth.login", actor=user, target=user, ip=_ip_of(request))


def on_logged_out(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        return  # logging out without being logged in changes nothing
    audit_record(action="auth.logout", actor=user, target=user, ip=_ip_of(request))


def _lock_state(request: HttpRequest | None) -> str:
    """ "imposed" when this failure locked the account, "refused" when the attempt was turned away
    because it already was, else "". django-axes sends ``user_locked_out`` in both cases (and, by
    default, extends the lock on every refused attempt), counting failures in the request."""
    if request is None or not getattr(request, "axes_locked_out", False):
        return ""
    failures = getattr(request, "axes_failures_since_start", None)
    limit = getattr(settings, "AXES_FAILURE_LIMIT", None)
    if failures is None or (isinstance(limit, int) and failures > limit):
        return "refused"
    return "imposed"


def on_login_failed(
    sender: Any, credentials: dict[str, Any] | None = None, request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = _attempted_username(credentials)
    data: dict[str, Any] = {"username": username}
    if _lock_state(request) == "refused":
        data["locked_out"] = True
    audit_record(
        action="auth.login_failed", actor=None, target=_user_named(username), data=data, ip=_ip_of(request)
    )


def on_locked_out(
    sender: Any,
    request: HttpRequest | None = None,
    username: str | None = None,
    ip_address: str | None = None,
    **kwargs: Any,
) -> None:
    # A lock is one entry; attempts refused while it lasts are failed logins marked locked_out.
    if _lock_state(request) == "refused":
        return
    name = str(username or "")[:USERNAME_MAX]
    data: dict[str, Any] = {"username": name}
    failures = getattr(request, "axes_failures_since_start", None)
    if failures is not None:
        data["failures"] = failures
    ip = _ip_of(request) or ip_address or ""
    audit_record(action="auth.lockout", actor=None, target=_user_named(name), data=data, ip=ip)


# --- roles and permissions --------------------------------------------------------------------------

_PENDING = "_kebu_audit_m2m_before"


def _names(owner: models.Model, field: str) -> list[str]:
    related = getattr(owner, field).all()
    if related.model is Group:
        return sorted(group.name for group in related)
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in related.select_related("content_type"))


def _m2m_receiver(*, field: str, audit_action: str) -> Any:
    """A receiver for one many-to-many relation whose owner side (a user, a group) is the target,
    whichever side the change was made from (``user.groups.add(g)`` or ``g.user_set.add(u)``)."""

    def receiver(
        sender: Any,
        instance: models.Model,
        action: str,
        reverse: bool,
        model: type[models.Model],
        pk_set: set[Any] | None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("raw"):
            return
        stage, _sep, verb = action.partition("_")
        if verb not in ("add", "remove", "clear"):
            return
        if stage == "pre":
            if verb != "clear" and not pk_set:
                return
            if not reverse:
                owners: list[models.Model] = [instance]
            elif pk_set is not None:
                owners = list(model._default_manager.filter(pk__in=pk_set))
            else:
                owners = list(model._default_manager.filter(**{field: instance}))
            before = {owner.pk: (owner, _names(owner, field)) for owner in owners}
            instance.__dict__.setdefault(_PENDING, {})[(field, verb)] = before
            return
        pending = instance.__dict__.get(_PENDING, {}).pop((field, verb), None)
        if not pending:
            return
        actor = current_user()
        for owner, names_before in pending.values():
            names_after = _names(owner, field)
            if names_after == names_before:
                continue
            audit_record(
                action=audit_action,
                actor=actor,
                target=owner,
                # A role by the name it is stored and found by, not as it reads in the actor's language.
                target_repr=owner.name if isinstance(owner, Group) else "",
                changes={field: [names_before, names_after]},
                data={
                    "added": sorted(set(names_after) - set(names_before)),
                    "removed": sorted(set(names_before) - set(names_after)),
                },
            )

    return receiver


on_user_groups_changed = _m2m_receiver(field="groups", audit_action="auth.role_change")
on_user_permissions_changed = _m2m_receiver(field="user_permissions", audit_action="auth.permission_change")
on_group_permissions_changed = _m2m_receiver(field="permissions", audit_action="auth.permission_change")


_FLAGS_BEFORE = "_kebu_audit_flags_before"


def on_user_pre_save(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or instance._state.adding or instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & set(USER_FLAGS):
        return  # e.g. last_login on every sign-in: no extra query
    before = sender._default_manager.filter(pk=instance.pk).values(*USER_FLAGS).first()
    instance.__dict__[_FLAGS_BEFORE] = before


def on_user_post_save(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    if created:
        audit_record(
            action="auth.user_create",
            actor=current_user(),
            target=instance,
            data={flag: getattr(instance, flag) for flag in USER_FLAGS},
        )
        return
    before = instance.__dict__.pop(_FLAGS_BEFORE, None)
    if not before:
        return
    changes = {
        flag: [before[flag], getattr(instance, flag)]
        for flag in USER_FLAGS
        if before[flag] != getattr(instance, flag)
    }
    if changes:
        audit_record(action="auth.role_change", actor=current_user(), target=instance, changes=changes)


def on_user_post_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    audit_record(
        action="auth.user_delete",
        actor=current_user(),
        target_type=instance._meta.label_lower,
        target_id=instance.pk or "",
        target_repr=f"{instance.get_username()} ({instance})",
    )


def connect() -> None:
    """Connect the receivers (from ``AuditConfig.ready``); ``dispatch_uid`` keeps it to once."""
    from axes.signals import user_locked_out

    user_model = get_user_model()
    user_logged_in.connect(on_logged_in, dispatch_uid="kebu.audit.logged_in")
    user_logged_out.connect(on_logged_out, dispatch_uid="kebu.audit.logged_out")
    user_login_failed.connect(on_login_failed, dispatch_uid="kebu.audit.login_failed")
    user_locked_out.connect(on_locked_out, dispatch_uid="kebu.audit.locked_out")
    m2m_changed.connect(
        on_user_groups_changed, sender=user_model.groups.through, dispatch_uid="kebu.audit.user_groups"
    )
    m2m_changed.connect(
        on_user_permissions_changed,
        sender=user_model.user_permissions.through,
        dispatch_uid="kebu.audit.user_permissions",
    )
    m2m_changed.connect(
        on_group_permissions_changed,
        sender=Group.permissions.through,
        dispatch_uid="kebu.audit.group_permissions",
    )
    pre_save.connect(on_user_pre_save, sender=user_model, dispatch_uid="kebu.audit.user_pre_save")
    post_save.connect(on_user_post_save, sender=user_model, dispatch_uid="kebu.audit.user_post_save")
    post_delete.connect(on_user_post_delete, sender=user_model, dispatch_uid="kebu.audit.user_post_delete")
