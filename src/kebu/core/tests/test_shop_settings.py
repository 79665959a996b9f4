"""Shop settings: one row, edited in the admin; switching the shared pool is audited."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kebu.audit.models import AuditEntry
from kebu.core.models import Job, JobStatus, ShopSettings, shop_settings_held
from kebu.customers.models import Stage
from kebu.customers.tests.factories import make_customer
from kebu.orders.services.metrics import stages_reapply_start
from kebu.orders.tests.factories import make_catalogue, make_order

pytestmark = pytest.mark.django_db


def test_the_settings_list_opens_the_one_row_and_a_pool_switch_is_audited(owner, owner_client):
    response = owner_client.get(reverse("admin:core_shopsettings_changelist"))
    row = ShopSettings.current()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:core_shopsettings_change", args=[row.pk])
    assert row.shared_pool_enabled

    form = {
        "shared_pool_enabled": "",
        "stage_auto": "on",
        "stage_repeat_orders": "2",
        "stage_vip_spent_cny": "5000.00",
        "stage_churn_days": "365",
        "credit_over_limit": "warn",
    }
    response = owner_client.post(response["Location"], form)
    assert response.status_code == 302
    assert not ShopSettings.current().shared_pool_enabled
    entry = AuditEntry.objects.get(action="settings.change")
    assert (entry.actor, entry.changes) == (owner, {"shared_pool_enabled": [True, False]})
    assert ShopSettings.objects.count() == 1
    delete = owner_client.get(reverse("admin:core_shopsettings_delete", args=[row.pk]))
    assert delete.status_code == 403


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
    form = {
        "shared_pool_enabled": "on",
        "stage_auto": "on",
        "stage_repeat_orders": "2",
        "stage_vip_spent_cny": "2000.00",
        "stage_churn_days": "365",
        "credit_over_limit": "warn",
    }

    url = reverse("admin:core_shopsettings_change", args=[row.pk])
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
    owner_client.post(url, {**form, "credit_over_limit": "block"})
    assert Job.objects.filter(kind="metrics.stages").count() == 1


def test_one_waiting_job_is_enough_however_often_the_rules_are_saved(owner):
    for _save in range(3):
        stages_reapply_start(changed={"stage_vip_spent_cny"}, actor=owner)  # the queue is not reached here

    assert list(Job.objects.filter(kind="metrics.stages").values_list("status", flat=True)) == [
        JobStatus.QUEUED
    ]
