"""Roles are groups with permissions, created by a migration and edited by an admin; Kebu reads only the
permissions, so what an admin changes in a group is what its members may do."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.utils import translation

from kebu.accounts.models import Team
from kebu.accounts.roles import ROLES, role_group, role_permissions_grant
from kebu.customers.privacy import contact_policy
from kebu.customers.selectors import customer_visible_queryset
from kebu.customers.services import CustomerInput, customer_create

pytestmark = pytest.mark.django_db


def _codenames(group: Group, app: str | None = None) -> set[str]:
    permissions = group.permissions.select_related("content_type")
    if app is not None:
        permissions = permissions.filter(content_type__app_label=app)
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions}


def test_the_migration_created_the_five_roles():
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "管理员",
        "主管",
        "销售/客服",
        "分析师",
        "只读",
    }


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "manager",
            {
                "customers.view_customer",
                "customers.add_customer",
                "customers.change_customer",
                "customers.view_contact",
                "customers.view_team_customers",
                "customers.assign_customer",
                "customers.export_customer",
            },
        ),
        (
            "sales",
            {
                "customers.view_customer",
                "customers.add_customer",
                "customers.change_customer",
                "customers.view_contact",
            },
        ),
        ("analyst", {"customers.view_customer", "customers.view_all_customers"}),
        ("readonly", {"customers.view_customer", "customers.view_all_customers", "customers.reveal_contact"}),
    ],
)
def test_each_role_holds_exactly_its_customer_permissions(key, expected):
    assert _codenames(Group.objects.get(name=ROLES[key].name), app="customers") == expected


def test_the_admin_role_holds_everything_including_the_audit_log_and_roles():
    held = _codenames(Group.objects.get(name=ROLES["admin"].name))

    assert {
        "customers.view_all_customers",
        "customers.view_contact",
        "customers.assign_customer",
        "customers.export_customer",
        "customers.change_customfield",
        "accounts.change_user",
        "accounts.add_team",
        "auth.change_group",
        "core.change_shopsettings",
        "audit.view_auditentry",
    } <= held


def test_a_renamed_role_works_as_before(staff_member):
    sales = role_group("sales")
    sales.name = "门店销售"
    sales.save()
    clerk = staff_member(None, "renamed")
    clerk.groups.add(sales)

    assert contact_policy(clerk).can_see
    assert clerk.has_perm("customers.change_customer")


def test_an_admin_who_takes_a_permission_from_a_role_takes_it_from_its_members(staff_member):
    clerk = staff_member("sales", "clerk_a")
    customer = customer_create(actor=clerk, data=CustomerInput(name="张三", owner=clerk))
    role_group("sales").permissions.remove(Permission.objects.get(codename="view_contact"))

    clerk = type(clerk).objects.get(pk=clerk.pk)  # a new request, without the cached permissions

    assert not contact_policy(clerk).can_see
    assert list(customer_visible_queryset(user=clerk)) == [customer]


def test_a_later_grant_adds_and_keeps_an_admins_edits():
    analyst = role_group("analyst")
    analyst.permissions.remove(Permission.objects.get(codename="view_all_customers"))

    role_permissions_grant(key="analyst", permissions=["customers.export_customer", "nosuch.permission"])

    assert _codenames(analyst, app="customers") == {"customers.view_customer", "customers.export_customer"}


def test_a_manager_sees_their_team_through_the_team_field(staff_member):
    east, south = Team.objects.create(name="华东"), Team.objects.create(name="华南")
    manager = staff_member("manager", "boss_east", team=east)
    mine = staff_member("sales", "east_1", team=east)
    theirs = staff_member("sales", "south_1", team=south)
    ours = customer_create(actor=mine, data=CustomerInput(name="东", owner=mine))
    customer_create(actor=theirs, data=CustomerInput(name="南", owner=theirs))

    assert list(customer_visible_queryset(user=manager).filter(owner__isnull=False)) == [ours]

    mine.team = south  # moving someone to another team moves their customers out of the manager's sight
    mine.save()
    assert list(customer_visible_queryset(user=manager).filter(owner__isnull=False)) == []


def test_teams_are_edited_in_the_admin(owner_client, staff_member):
    team = Team.objects.create(name="华东")
    staff_member("sales", "east_1", team=team)

    listing = owner_client.get("/admin/accounts/team/")
    page = owner_client.get(f"/admin/accounts/team/{team.pk}/change/")

    assert listing.status_code == 200 and "华东" in listing.content.decode()
    assert page.status_code == 200 and "east_1" in page.content.decode()


# --- the roles' names --------------------------------------------------------------------------------


def test_a_role_kebu_made_reads_in_the_readers_language_and_one_the_shop_renamed_as_written():
    admin, sales = role_group("admin"), role_group("sales")
    sales.name = "门店导购"
    sales.save()

    with translation.override("en"):
        assert (str(admin), str(sales)) == ("Admin", "门店导购")
    with translation.override("zh-hans"):
        assert str(admin) == "管理员"
    assert admin.name == "管理员"  # stored as created: the role is found by it


def test_a_staff_members_roles_read_in_the_readers_language_in_the_admin(owner_client, staff_member):
    clerk = staff_member("sales", "east_1")

    page = owner_client.get(f"/admin/accounts/user/{clerk.pk}/change/", headers={"accept-language": "en"})
    listing = owner_client.get("/admin/accounts/user/", headers={"accept-language": "en"})

    assert page.status_code == 200 and listing.status_code == 200
    for shown in (page.content.decode(), listing.content.decode()):  # the roles to choose, the roles filter
        assert "Sales / service" in shown and "Read-only" in shown
        assert "销售/客服" not in shown and "只读" not in shown
