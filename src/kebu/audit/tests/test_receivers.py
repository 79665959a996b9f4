from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse
from django.utils import translation

from kebu.accounts.roles import role_group
from kebu.audit.context import client_ip
from kebu.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

ADDRESS = "203.0.113.7"


def last_seq() -> int:
    return AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def entries(action: str, *, after: int = 0) -> list[AuditEntry]:
    """Entries of one kind, written after entry number ``after`` (the personas' set-up writes some)."""
    return list(AuditEntry.objects.filter(action=action, seq__gt=after).order_by("seq"))


def login(client: Client, username: str, password: str, address: str = ADDRESS):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


# --- signing in and out -----------------------------------------------------------------------------


def test_a_login_is_recorded_with_the_person_and_their_address(clerk):
    response = login(Client(), "xiaowang", "pass-xiaowang-123")

    assert response.status_code == 302
    [entry] = entries("auth.login")
    assert entry.actor == clerk and entry.actor_label == "xiaowang"
    assert entry.ip == ADDRESS and entry.target_id == str(clerk.pk)


def test_a_failed_login_is_recorded_with_the_name_tried_and_no_actor(clerk):
    response = login(Client(), "xiaowang", "wrong-password")

    assert response.status_code == 200
    [entry] = entries("auth.login_failed")
    assert entry.actor is None and entry.actor_label == ""
    assert entry.data == {"username": "xiaowang"} and entry.ip == ADDRESS
    assert entry.target_id == str(clerk.pk)


def test_a_failed_login_for_nobody_names_what_was_typed(db):
    login(Client(), "=cmd|' /C calc'!A0", "x")

    [entry] = entries("auth.login_failed")
    assert entry.data["username"] == "=cmd|' /C calc'!A0" and entry.target_id == ""


def test_the_lockout_is_recorded_once_and_refused_attempts_as_failed_logins(clerk, settings):
    client = Client()
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        login(client, "xiaowang", "wrong-password")

    [lockout] = entries("auth.lockout")
    assert lockout.data["username"] == "xiaowang" and lockout.ip == ADDRESS
    assert lockout.data["failures"] == settings.AXES_FAILURE_LIMIT
    assert lockout.target_id == str(clerk.pk)

    refused = login(client, "xiaowang", "pass-xiaowang-123")  # even the right password, while locked

    assert refused.status_code in (403, 429)
    assert len(entries("auth.lockout")) == 1
    failed = entries("auth.login_failed")
    assert len(failed) == settings.AXES_FAILURE_LIMIT + 1
    assert failed[-1].data == {"username": "xiaowang", "locked_out": True}
    assert not entries("auth.login")


def test_a_logout_is_recorded(clerk_client, clerk):
    clerk_client.post(reverse("logout"), REMOTE_ADDR=ADDRESS)

    [entry] = entries("auth.logout")
    assert entry.actor == clerk and entry.ip == ADDRESS


def test_saving_last_login_on_sign_in_is_not_a_role_change(clerk):
    start = last_seq()

    login(Client(), "xiaowang", "pass-xiaowang-123")

    assert not entries("auth.role_change", after=start)


# --- the client's address ---------------------------------------------------------------------------


def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored():
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="1.2.3.4")

    assert client_ip(request) == "198.51.100.1"


@override_settings(KEBU_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_behind_a_trusted_proxy_the_first_untrusted_hop_from_the_right_is_the_client():
    forged_then_real = "6.6.6.6, 198.51.100.7, 10.0.0.3"
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forged_then_real)

    assert client_ip(request) == "198.51.100.7"


@override_settings(KEBU_TRUSTED_PROXIES=["10.0.0.2"])
def test_a_garbled_forwarded_for_falls_back_to_the_proxy():
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="not-an-ip")

    assert client_ip(request) == "10.0.0.2"


@override_settings(KEBU_TRUSTED_PROXIES=["127.0.0.1"])
def test_logins_through_a_trusted_proxy_record_the_clients_address(clerk):
    Client().post(
        reverse("login"),
        {"username": "xiaowang", "password": "pass-xiaowang-123"},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.8",
    )

    assert entries("auth.login")[0].ip == "198.51.100.8"


# --- roles and permissions --------------------------------------------------------------------------


@pytest.fixture
def sales():
    return Group.objects.create(name="测试组甲")


def test_a_role_added_in_code_is_recorded_without_an_actor(django_user_model, sales):
    user = django_user_model.objects.create_user(username="newbie", password="x-long-password-1")
    start = last_seq()

    user.groups.add(sales)

    [entry] = entries("auth.role_change", after=start)
    assert entry.actor is None and entry.target_id == str(user.pk)
    assert entry.changes == {"groups": [[], ["测试组甲"]]}
    assert entry.data == {"added": ["测试组甲"], "removed": []}


def test_a_role_removed_or_cleared_is_recorded(django_user_model, sales):
    user = django_user_model.objects.create_user(username="newbie", password="x-long-password-1")
    manager = Group.objects.create(name="测试组乙")
    user.groups.add(sales, manager)
    start = last_seq()

    user.groups.remove(sales)
    user.groups.clear()

    removed, cleared = entries("auth.role_change", after=start)
    assert removed.changes == {"groups": [["测试组乙", "测试组甲"], ["测试组乙"]]}
    assert removed.data == {"added": [], "removed": ["测试组甲"]}
    assert cleared.changes == {"groups": [["测试组乙"], []]}


def test_members_added_from_the_group_side_are_recorded_per_person(clerk, owner, sales):
    start = last_seq()

    sales.user_set.add(clerk, owner)

    recorded = {e.target_id: e.data["added"] for e in entries("auth.role_change", after=start)}
    assert recorded == {str(clerk.pk): ["测试组甲"], str(owner.pk): ["测试组甲"]}


def test_adding_nothing_new_records_nothing(clerk, sales):
    start = last_seq()

    clerk.groups.add(sales)
    clerk.groups.add(sales)

    assert len(entries("auth.role_change", after=start)) == 1


def test_permissions_of_a_person_and_of_a_role_are_recorded(clerk, sales):
    permission = Permission.objects.get(codename="view_auditentry")
    start = last_seq()

    clerk.user_permissions.add(permission)
    sales.permissions.add(permission)

    on_person, on_role = entries("auth.permission_change", after=start)
    assert on_person.target_id == str(clerk.pk)
    assert on_person.changes == {"user_permissions": [[], ["audit.view_auditentry"]]}
    assert on_role.target_type == "auth.group" and on_role.target_repr == "测试组甲"
    assert on_role.changes == {"permissions": [[], ["audit.view_auditentry"]]}


def test_a_role_is_recorded_by_its_stored_name_whatever_the_actors_language():
    readonly = role_group("readonly")
    start = last_seq()

    with translation.override("en"):
        readonly.permissions.add(Permission.objects.get(codename="view_auditentry"))

    [entry] = entries("auth.permission_change", after=start)
    assert entry.target_repr == "只读"


def test_staff_superuser_and_active_flags_are_recorded(clerk):
    start = last_seq()
    clerk.is_staff = True
    clerk.is_active = False
    clerk.save()

    [entry] = entries("auth.role_change", after=start)
    assert entry.changes == {"is_active": [True, False], "is_staff": [False, True]}


def test_accounts_created_and_deleted_are_recorded(django_user_model):
    start = last_seq()
    user = django_user_model.objects.create_user(username="temp", password="x-long-password-1")
    user_id = user.pk
    user.delete()

    [created] = entries("auth.user_create", after=start)
    [deleted] = entries("auth.user_delete", after=start)
    assert created.target_id == deleted.target_id == str(user_id)
    assert created.data == {"is_active": True, "is_staff": False, "is_superuser": False, "team_id": None}
    assert "temp" in deleted.target_repr


def test_entries_outlive_the_account_that_made_them(django_user_model):
    from kebu.audit.services import audit_verify

    user = django_user_model.objects.create_user(username="leaver", password="x-long-password-1")
    Client().post(reverse("login"), {"username": "leaver", "password": "x-long-password-1"})
    user.delete()

    [entry] = entries("auth.login")
    assert entry.actor_label == "leaver" and entry.actor_id is not None
    assert audit_verify().ok


def test_a_role_given_in_the_admin_names_the_admin_as_actor(owner_client, owner, clerk, sales):
    url = reverse("admin:accounts_user_change", args=[clerk.pk])
    form = owner_client.get(url).context_data["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name not in ("groups", "user_permissions", "password", "last_login")
    }
    data.update(
        {
            "username": clerk.username,
            "groups": [sales.pk],
            "is_active": "on",
            "is_staff": "on",
            "date_joined_0": clerk.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": clerk.date_joined.strftime("%H:%M:%S"),
        }
    )
    data.pop("date_joined", None)
    data.pop("is_superuser", None)

    start = last_seq()

    response = owner_client.post(url, data, REMOTE_ADDR=ADDRESS)

    assert response.status_code == 302, response.context_data["adminform"].form.errors
    roles = entries("auth.role_change", after=start)
    assert {tuple(e.changes) for e in roles} == {("is_staff",), ("groups",)}
    assert all(e.actor == owner and e.ip == ADDRESS and e.target_id == str(clerk.pk) for e in roles)


@pytest.mark.django_db
def test_moving_someone_to_another_team_is_a_role_change(clerk):
    from kebu.accounts.models import Team

    east = Team.objects.create(name="华东组")
    clerk.team = east
    clerk.save()

    entry = AuditEntry.objects.filter(action="auth.role_change", target_id=str(clerk.pk)).get()
    assert entry.changes == {"team_id": [None, east.pk]}
