"""The shop's stores: added and changed through the services (names unique whatever their case, every
change audited, never deleted), on the Stores page by those who may, in the admin, and read through the
API; an inactive store is no longer offered for new orders or imports."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from kebu.accounts.roles import ROLES
from kebu.audit.models import AuditEntry
from kebu.core.errors import ValidationFailed
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import Store
from kebu.orders.services.stores import store_create, store_update
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

STORES = "/api/v1/stores/"


def _customer(owner):
    return make_customer(actor=owner, name="王芳", owner=owner)


# --- services ---------------------------------------------------------------------------------------------


def test_a_new_store_is_active_and_its_creation_is_audited(owner):
    store = store_create(actor=owner, name="  天猫旗舰店 ", platform="tmall", position=2)

    assert (store.name, store.platform, store.position, store.is_active) == ("天猫旗舰店", "tmall", 2, True)
    entry = AuditEntry.objects.get(action="store.create")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (owner.pk, "orders.store", str(store.pk))
    assert entry.data == {"name": "天猫旗舰店", "platform": "tmall", "position": 2}
    assert entry.action_label == "Store added"


@pytest.mark.parametrize("taken", ["JD旗舰店", "jd旗舰店", " Jd旗舰店 "])
def test_a_name_already_used_in_any_case_is_refused_and_nothing_is_written(owner, taken):
    store_create(actor=owner, name="JD旗舰店", platform="jd")
    audit_before = AuditEntry.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        store_create(actor=owner, name=taken, platform="jd")

    assert list(refused.value.field_errors) == ["name"]
    assert "already a store named" in str(refused.value.field_errors["name"][0])
    assert Store.objects.filter(name__iexact="jd旗舰店").count() == 1
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize(
    ("name", "platform", "position", "field", "words"),
    [
        ("   ", "taobao", 0, "name", "Enter the store's name"),
        ("店" * 51, "taobao", 0, "name", "at most 50 characters (this one has 51)"),
        ("淘宝店", "amazon", 0, "platform", "Choose one of the platforms"),
        ("淘宝店", "taobao", -1, "position", "from 0 to 32767"),
        ("淘宝店", "taobao", 40000, "position", "from 0 to 32767"),
    ],
)
def test_a_bad_value_is_refused_naming_its_field(owner, name, platform, position, field, words):
    before = Store.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        store_create(actor=owner, name=name, platform=platform, position=position)

    assert list(refused.value.field_errors) == [field]
    assert words in str(refused.value.field_errors[field][0])
    assert Store.objects.count() == before and not AuditEntry.objects.filter(action="store.create").exists()


def test_a_rename_is_audited_with_the_old_and_new_values_and_its_orders_follow(owner, catalogue):
    order = make_order(actor=owner, customer=_customer(owner), store=catalogue.store)
    old_name = catalogue.store.name

    store_update(actor=owner, store=catalogue.store, name="天猫旗舰店", platform="tmall")

    order.refresh_from_db()
    assert order.store.name == "天猫旗舰店"
    entry = AuditEntry.objects.get(action="store.update")
    assert entry.changes == {"name": [old_name, "天猫旗舰店"], "platform": ["other", "tmall"]}
    assert entry.action_label == "Store changed"


def test_a_store_may_change_the_case_of_its_own_name_but_not_take_anothers(owner):
    tmall = store_create(actor=owner, name="tmall旗舰店", platform="tmall")
    jd = store_create(actor=owner, name="JD旗舰店", platform="jd")

    store_update(actor=owner, store=tmall, name="Tmall旗舰店")
    with pytest.raises(ValidationFailed) as refused:
        store_update(actor=owner, store=jd, name="TMALL旗舰店")

    assert list(refused.value.field_errors) == ["name"]
    jd.refresh_from_db()
    assert (Store.objects.get(pk=tmall.pk).name, jd.name) == ("Tmall旗舰店", "JD旗舰店")


def test_deactivating_keeps_the_orders_and_an_unchanged_save_records_nothing(owner, catalogue):
    make_order(actor=owner, customer=_customer(owner), store=catalogue.store)

    store_update(actor=owner, store=catalogue.store, is_active=False)
    store_update(actor=owner, store=catalogue.store, name=catalogue.store.name, is_active=False)

    catalogue.store.refresh_from_db()
    assert catalogue.store.is_active is False and catalogue.store.orders.count() == 1
    [entry] = AuditEntry.objects.filter(action="store.update")
    assert entry.changes == {"is_active": [True, False]}


# --- the Stores page --------------------------------------------------------------------------------------


def test_a_manager_adds_a_store_on_the_page_and_sees_it_listed(client_for, manager_east, catalogue):
    client = client_for(manager_east)

    response = client.post(reverse("orders:stores"), {"name": "京东自营店", "platform": "jd", "position": ""})

    assert response.status_code == 302
    store = Store.objects.get(name="京东自营店")
    assert (store.platform, store.position, store.is_active) == ("jd", 0, True)
    page = client.get(reverse("orders:stores")).content.decode()
    assert f'data-store="{store.pk}"' in page and "京东自营店" in page
    assert AuditEntry.objects.get(action="store.create").actor_id == manager_east.pk


def test_a_name_taken_in_another_case_is_shown_beside_the_field(client_for, manager_east):
    Store.objects.create(name="Shop A", platform="taobao")

    response = client_for(manager_east).post(reverse("orders:stores"), {"name": "shop a", "platform": "jd"})

    assert response.status_code == 400
    assert 'data-field="name"' in response.content.decode()
    assert Store.objects.filter(name__iexact="shop a").count() == 1


def test_the_page_counts_the_orders_each_user_may_see(client_for, owner, sales_a, sales_b, catalogue):
    mine = make_customer(actor=owner, name="甲", owner=sales_a)
    theirs = make_customer(actor=owner, name="乙", owner=sales_b)
    make_order(actor=owner, customer=mine, store=catalogue.store)
    make_order(actor=owner, customer=theirs, store=catalogue.store)
    url = reverse("orders:stores")

    shown_to_a = client_for(sales_a).get(url).context["stores"]
    shown_to_owner = client_for(owner).get(url).context["stores"]

    assert [(s.name, s.order_count) for s in shown_to_a] == [(catalogue.store.name, 1)]
    assert [(s.name, s.order_count) for s in shown_to_owner] == [(catalogue.store.name, 2)]


def test_a_manager_renames_and_deactivates_a_store_on_its_edit_page(client_for, manager_east, catalogue):
    client = client_for(manager_east)
    url = reverse("orders:store-edit", args=[catalogue.store.pk])
    assert client.get(url).status_code == 200

    response = client.post(url, {"name": "老店（已关）", "platform": "taobao", "position": "9"})

    assert response.status_code == 302
    catalogue.store.refresh_from_db()
    assert (catalogue.store.name, catalogue.store.platform, catalogue.store.position) == (
        "老店（已关）",
        "taobao",
        9,
    )
    assert catalogue.store.is_active is False  # the box was left unticked


def test_a_deactivated_store_is_offered_neither_for_new_orders_nor_for_imports(
    client_for, owner, manager_east, catalogue
):
    kept = Store.objects.create(name="拼多多店", platform="pinduoduo")
    client_for(manager_east).post(
        reverse("orders:store-edit", args=[catalogue.store.pk]),
        {"name": catalogue.store.name, "platform": "other", "position": "0"},
    )

    owner_client = client_for(owner)
    order_form = owner_client.get(reverse("orders:create")).context["bundle"].form
    upload_form = owner_client.get(reverse("transfer:new")).context["form"]

    for form in (order_form, upload_form):
        assert list(form.fields["store"].queryset) == [kept]
    assert f'value="{catalogue.store.pk}"' not in owner_client.get(reverse("transfer:new")).content.decode()


def test_sales_see_the_stores_but_may_neither_add_nor_change_them(client_for, sales_a, catalogue):
    client = client_for(sales_a)
    page = client.get(reverse("orders:stores"))

    assert page.status_code == 200 and 'id="store-form"' not in page.content.decode()
    assert client.post(reverse("orders:stores"), {"name": "新店", "platform": "jd"}).status_code == 403
    edit = reverse("orders:store-edit", args=[catalogue.store.pk])
    assert client.get(edit).status_code == 403
    assert client.post(edit, {"name": "改名", "platform": "jd", "is_active": "on"}).status_code == 403
    assert list(Store.objects.values_list("name", flat=True)) == [catalogue.store.name]
    assert not AuditEntry.objects.filter(action__startswith="store.").exists()


def test_who_may_not_see_orders_may_not_see_the_stores(client_for, staff_member):
    nobody = staff_member(None, "no_role")

    assert client_for(nobody).get(reverse("orders:stores")).status_code == 403


def test_an_unknown_store_answers_404(client_for, manager_east):
    assert client_for(manager_east).get(reverse("orders:store-edit", args=[99999])).status_code == 404


def test_the_manager_role_keeps_the_stores_and_sales_do_not():
    manager = Group.objects.get(name=ROLES["manager"].name)
    sales = Group.objects.get(name=ROLES["sales"].name)
    held = set(manager.permissions.values_list("codename", flat=True))

    assert {"add_store", "change_store"} <= held
    assert not sales.permissions.filter(codename__in=["add_store", "change_store"]).exists()


# --- the admin --------------------------------------------------------------------------------------------


def test_the_admin_adds_and_changes_stores_through_the_services(owner_client, catalogue):
    added = owner_client.post(
        reverse("admin:orders_store_add"), {"name": "微信小店", "platform": "wechat", "position": "1"}
    )
    assert added.status_code == 302
    store = Store.objects.get(name="微信小店")
    assert store.is_active

    duplicate = owner_client.post(
        reverse("admin:orders_store_add"), {"name": "微信小店".upper(), "platform": "jd", "position": "0"}
    )
    assert (
        duplicate.status_code == 200 and "已有名为" in duplicate.content.decode()
    )  # zh-Hans, the tests' language

    changed = owner_client.post(
        reverse("admin:orders_store_change", args=[store.pk]),
        {"name": "微信私域", "platform": "wechat", "position": "1"},
    )
    assert changed.status_code == 302
    store.refresh_from_db()
    assert (store.name, store.is_active) == ("微信私域", False)
    assert [e.action for e in AuditEntry.objects.filter(action__startswith="store.").order_by("seq")] == [
        "store.create",
        "store.update",
    ]
    assert owner_client.get(reverse("admin:orders_store_delete", args=[store.pk])).status_code == 403


# --- the API ----------------------------------------------------------------------------------------------


def test_the_api_lists_the_stores_for_whoever_may_see_orders(client_for, sales_a, catalogue):
    closed = Store.objects.create(name="旧店", platform="taobao", position=5, is_active=False)
    client = client_for(sales_a)

    listed = client.get(STORES).json()["results"]
    active = client.get(STORES, {"active": "true"}).json()["results"]
    one = client.get(f"{STORES}{closed.pk}/")

    assert listed == [
        {
            "id": catalogue.store.pk,
            "name": catalogue.store.name,
            "platform": "other",
            "position": 0,
            "is_active": True,
        },
        {"id": closed.pk, "name": "旧店", "platform": "taobao", "position": 5, "is_active": False},
    ]
    assert [s["id"] for s in active] == [catalogue.store.pk]
    assert one.status_code == 200 and one.json()["name"] == "旧店"
    assert client.get(f"{STORES}{closed.pk + 999}/").status_code == 404


def test_the_api_writes_no_store_and_refuses_those_who_may_not_see_orders(
    client, client_for, sales_a, staff_member, catalogue
):
    clerk = client_for(sales_a)

    created = clerk.post(STORES, {"name": "新店", "platform": "jd"}, content_type="application/json")
    assert created.status_code == 405
    assert client_for(staff_member(None, "no_role")).get(STORES).status_code == 403
    assert client.get(STORES).status_code in (401, 403)
    assert clerk.get(STORES, {"platform": "amazon"}).status_code == 400
    assert Store.objects.count() == 1


def test_the_schema_documents_the_stores_list(client_for, sales_a):
    response = client_for(sales_a).get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})

    paths = response.json()["paths"]
    assert set(paths["/api/v1/stores/"]) == {"get"} and set(paths["/api/v1/stores/{id}/"]) == {"get"}
    assert {"active", "platform", "cursor"} <= {
        p["name"] for p in paths["/api/v1/stores/"]["get"]["parameters"]
    }
