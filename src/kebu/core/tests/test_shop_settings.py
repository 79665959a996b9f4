"""Shop settings: one row, edited on the settings page (店铺设置) or in the admin, both through one
service; every change is audited and told to the apps that act on it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kebu.audit.models import AuditEntry
from kebu.core.models import Job, JobStatus, ShopSettings, shop_settings_held
from kebu.core.services import shop_settings_update
from kebu.customers.models import Stage
from kebu.customers.tests.factories import make_customer
from kebu.orders.services.metrics import stages_reapply_start
from kebu.orders.tests.factories import make_catalogue, make_order

pytestmark = pytest.mark.django_db


def _admin_form(client, url: str, **changed) -> dict[str, str]:
    """The admin's form as a browser sends it back: the settings as shipped and the time of the save it
    showed, with ``changed`` typed over."""
    shown = client.get(url).context["adminform"].form["updated_at"].value()
    shipped = {
        "shared_pool_enabled": "on",
        "stage_auto": "on",
        "stage_repeat_orders": "2",
        "stage_vip_spent_cny": "5000.00",
        "stage_churn_days": "365",
        "credit_over_limit": "warn",
    }
    return {**shipped, "updated_at": shown, **changed}


def test_the_settings_list_opens_the_one_row_and_a_pool_switch_is_audited(owner, owner_client):
    response = owner_client.get(reverse("admin:core_shopsettings_changelist"))
    row = ShopSettings.current()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:core_shopsettings_change", args=[row.pk])
    assert row.shared_pool_enabled

    form = _admin_form(owner_client, response["Location"], shared_pool_enabled="")
    response = owner_client.post(response["Location"], form)
    assert response.status_code == 302
    assert not ShopSettings.current().shared_pool_enabled
    entry = AuditEntry.objects.get(action="settings.change")
    assert (entry.actor, entry.changes) == (owner, {"shared_pool_enabled": [True, False]})
    assert ShopSettings.objects.count() == 1
    delete = owner_client.get(reverse("admin:core_shopsettings_delete", args=[row.pk]))
    assert delete.status_code == 403


def test_an_admin_form_older_than_a_colleagues_save_does_not_undo_it_and_says_so(
    owner, owner_client, staff_member
):
    # given: the admin's form is open, then a colleague switches the pool off on the settings page
    url = reverse("admin:core_shopsettings_change", args=[ShopSettings.current().pk])
    form = _admin_form(owner_client, url, stage_churn_days="180")
    shop_settings_update(actor=staff_member("admin", "laoban_niang"), data={"shared_pool_enabled": False})

    # when: the admin's form is saved
    response = owner_client.post(url, form, follow=True, headers={"accept-language": "en"})

    # then: the admin page again, with the settings as they are now and why nothing was saved
    assert response.status_code == 200
    row = ShopSettings.read()
    assert (row.shared_pool_enabled, row.stage_churn_days) == (False, 365)
    assert AuditEntry.objects.filter(action="settings.change").count() == 1
    assert (
        "Someone changed the shop settings meanwhile, so yours were not saved." in response.content.decode()
    )
    assert response.context["adminform"].form["updated_at"].value() == row.updated_at.isoformat()
    assert 'type="hidden" name="updated_at"' in response.content.decode()  # so saving again goes through


def test_a_held_reading_serves_every_read_inside_and_a_change_shows_after():
    row = ShopSettings.current()
    with CaptureQueriesContext(connection) as queries, shop_settings_held() as held:
        assert ShopSettings.read() is held and ShopSettings.read() is held
        row.stage_repeat_orders = 3
        row.save()  # saved meanwhile: the held reading stays as it was
    assert len([q for q in queries if q["sql"].startswith("SELECT")]) == 1
    assert held.stage_repeat_orders == 2
    assert ShopSettings.read().stage_repeat_orders == 3


def test_new_stage_rules_place_every_customer_again_in_the_background(
    owner, owner_client, django_capture_on_commit_callbacks
):
    catalogue = make_catalogue(actor=owner)
    buyer = make_customer(actor=owner, name="老主顾")
    for _order in range(2):
        make_order(actor=owner, customer=buyer, store=catalogue.store, lines=[("CREAM-50", 6)])  # ¥2,388
    buyer.refresh_from_db()
    assert buyer.stage == Stage.REPEAT  # under the ¥5,000 VIP bar
    row = ShopSettings.current()
    url = reverse("admin:core_shopsettings_change", args=[row.pk])
    form = _admin_form(owner_client, url, stage_vip_spent_cny="2000.00")

    version = buyer.version
    with django_capture_on_commit_callbacks(execute=True):  # the job is queued as the save commits
        response = owner_client.post(url, form, follow=True)

    assert "后台" in response.content.decode()  # the admin says the stages follow (zh-Hans, the tests')
    assert Job.objects.get(kind="metrics.stages").status == JobStatus.DONE  # run at once: Huey's immediate
    buyer.refresh_from_db()
    assert (buyer.stage, buyer.version) == (Stage.VIP, version + 1)  # a profile open since cannot undo it
    moves = buyer.events.filter(kind="customer.stage_changed").order_by("pk")
    assert [event.data["to"] for event in moves] == ["new", "repeat", "vip"]  # on the timeline
    # Any other setting changes no stage: no job.
    owner_client.post(
        url, _admin_form(owner_client, url, stage_vip_spent_cny="2000.00", credit_over_limit="block")
    )
    assert Job.objects.filter(kind="metrics.stages").count() == 1


def test_one_waiting_job_is_enough_however_often_the_rules_are_saved(owner):
    for _save in range(3):
        stages_reapply_start(changed={"stage_vip_spent_cny"}, actor=owner)  # the queue is not reached here

    assert list(Job.objects.filter(kind="metrics.stages").values_list("status", flat=True)) == [
        JobStatus.QUEUED
    ]


# --- the settings page ----------------------------------------------------------------------------------

PAGE = reverse("shop-settings")
AS_SHIPPED = {
    "shared_pool_enabled": "on",
    "stage_auto": "on",
    "stage_repeat_orders": "2",
    "stage_vip_spent_cny": "5000.00",
    "stage_churn_days": "365",
    "credit_over_limit": "warn",
}


def _form(client, **changed):
    """The page's form as a browser would send it back: the values shown, with ``changed`` typed over."""
    shown = client.get(PAGE).context["form"]["updated_at"].value()
    return {**AS_SHIPPED, "updated_at": shown, **changed}


def test_the_page_shows_the_settings_in_the_admins_groups_with_their_help_in_the_merchants_language(
    admin_member, client_for
):
    client = client_for(admin_member)  # an admin by role: the permission, not staff status, opens it

    page = client.get(PAGE).content.decode()

    assert page.count('<fieldset class="card') == 3
    for words in ("客户", "生命周期阶段", "赊账", "公海", "成为复购客户所需订单数", "多少天未下单视为流失"):
        assert words in page
    for help_text in ("可以领取", "只进不退", "每天检查一次"):  # each field's help, in Chinese
        assert help_text in page
    assert 'id="nav-shop-settings"' in page and 'href="/settings/shop/"' in page


def test_a_sales_clerk_is_refused_the_page_and_its_save_and_is_not_offered_it(staff_member, client_for):
    clerk = staff_member("sales", "xiaoli")
    client = client_for(clerk)

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {**AS_SHIPPED, "credit_over_limit": "block"}).status_code == 403
    assert ShopSettings.read().credit_over_limit == "warn"
    assert not AuditEntry.objects.filter(action="settings.change").exists()
    assert "nav-shop-settings" not in client.get(reverse("customers:list")).content.decode()


def test_a_manager_opens_it_once_the_shop_gives_managers_the_permission(staff_member, client_for):
    from django.contrib.auth.models import Permission

    from kebu.accounts.roles import role_group

    manager = staff_member("manager", "zhuguan")
    assert client_for(manager).get(PAGE).status_code == 403  # the settings are the admin role's by default

    role_group("manager").permissions.add(Permission.objects.get(codename="change_shopsettings"))
    manager = type(manager).objects.get(pk=manager.pk)  # a new request, without the cached permissions

    assert client_for(manager).get(PAGE).status_code == 200


def test_saving_changes_the_row_audits_it_and_shows_what_the_stage_rules_set_off(
    admin_member, client_for, django_capture_on_commit_callbacks
):
    client = client_for(admin_member)
    data = _form(client, stage_vip_spent_cny="3000", credit_over_limit="block")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PAGE, data, follow=True)

    row = ShopSettings.read()
    assert (row.stage_vip_spent_cny, row.credit_over_limit) == (Decimal("3000.00"), "block")
    entry = AuditEntry.objects.get(action="settings.change")
    assert entry.actor == admin_member
    assert entry.changes == {
        "stage_vip_spent_cny": ["5000.00", "3000.00"],
        "credit_over_limit": ["warn", "block"],
    }
    page = response.content.decode()
    assert response.redirect_chain == [(PAGE, 302)]
    assert [m.level_tag for m in response.context["messages"]] == ["success", "info"]
    assert "按新规则重新划分" in page  # the orders app's answer to new stage rules, in Chinese
    assert Job.objects.get(kind="metrics.stages").status == JobStatus.DONE


def test_a_value_below_its_limit_is_refused_beside_its_field_and_nothing_is_saved(admin_member, client_for):
    client = client_for(admin_member)
    data = _form(client, stage_repeat_orders="1", stage_churn_days="20", credit_over_limit="block")

    response = client.post(PAGE, data)

    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-field="stage_repeat_orders">确保该值大于或等于2。' in page  # beside its field, in Chinese
    assert 'data-field="stage_churn_days">确保该值大于或等于30。' in page
    row = ShopSettings.read()
    assert (row.stage_repeat_orders, row.stage_churn_days, row.credit_over_limit) == (2, 365, "warn")
    assert not AuditEntry.objects.filter(action="settings.change").exists()


def test_a_form_older_than_a_colleagues_save_does_not_undo_it_and_shows_the_settings_as_they_are_now(
    admin_member, staff_member, client_for
):
    client = client_for(admin_member)
    data = _form(client, stage_churn_days="180")  # opened, then a colleague saves before this one does
    colleague = staff_member("admin", "laoban_niang")
    shop_settings_update(actor=colleague, data={"shared_pool_enabled": False})

    response = client.post(PAGE, data)

    assert response.status_code == 409
    row = ShopSettings.read()
    assert (row.shared_pool_enabled, row.stage_churn_days) == (False, 365)  # theirs kept, nothing of this one
    assert AuditEntry.objects.filter(action="settings.change").count() == 1
    form = response.context["form"]
    assert not form.is_bound and not form["shared_pool_enabled"].value()  # the settings as they are now
    assert form["updated_at"].value() == row.updated_at.isoformat()  # so saving again goes through
    page = response.content.decode()
    assert 'id="settings-stale"' in page
    assert 'data-entered="stage_churn_days"' in page and "180" in page  # what was typed is not lost
    assert 'data-entered="shared_pool_enabled"' in page  # nor that the pool was left on


def test_a_form_without_the_time_it_was_shown_is_refused_like_a_stale_one(admin_member, client_for):
    client = client_for(admin_member)

    response = client.post(PAGE, {**AS_SHIPPED, "credit_over_limit": "block"})

    assert response.status_code == 409
    assert ShopSettings.read().credit_over_limit == "warn"


def test_saving_the_settings_as_they_are_writes_nothing(admin_member):
    row = ShopSettings.current()

    saved = shop_settings_update(actor=admin_member, data={"stage_vip_spent_cny": Decimal("5000")})

    assert (saved.changes, saved.replies) == ({}, [])
    assert ShopSettings.read().updated_at == row.updated_at
    assert not AuditEntry.objects.filter(action="settings.change").exists()
