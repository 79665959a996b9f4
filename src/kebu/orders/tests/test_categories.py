"""The category tree after it is made: a category is renamed (the ones below it follow, the top category
of past orders does not move) or deleted while nothing uses it, through the services and on the
Categories page by those who may change the catalogue."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.messages import get_messages
from django.urls import reverse

from kebu.audit.models import AuditEntry
from kebu.core.errors import ValidationFailed
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import Preference
from kebu.orders.models import Category, CustomerCategorySpend, OrderLine
from kebu.orders.services.products import category_create, category_delete, category_rename
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def _paths() -> list[str]:
    return list(Category.objects.order_by("path").values_list("path", flat=True))


# --- renaming ---------------------------------------------------------------------------------------------


def test_a_rename_renames_every_category_below_and_is_audited_with_both_paths(owner, catalogue):
    night = category_create(actor=owner, name="晚霜", parent=catalogue.cream)
    category_create(actor=owner, name="面膜", parent=catalogue.skincare)

    category_rename(actor=owner, category=catalogue.skincare, name=" 美容护肤 ")

    assert _paths() == ["美容护肤", "美容护肤 › 面膜", "美容护肤 › 面霜", "美容护肤 › 面霜 › 晚霜", "茶叶"]
    night.refresh_from_db()
    assert (night.name, night.root_id) == ("晚霜", catalogue.skincare.pk)
    entry = AuditEntry.objects.filter(action="catalogue.change").latest("seq")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (
        owner.pk,
        "orders.category",
        str(catalogue.skincare.pk),
    )
    assert entry.changes == {"path": ["护肤", "美容护肤"]}
    assert entry.data == {"subcategories renamed": 3}


def test_a_rename_leaves_the_top_category_of_past_orders_and_the_customers_spend(owner, catalogue):
    customer = make_customer(actor=owner, name="王芳", owner=owner)
    make_order(actor=owner, customer=customer, store=catalogue.store, lines=[("CREAM-50", 1)])

    category_rename(actor=owner, category=catalogue.cream, name="乳霜")

    assert OrderLine.objects.get().root_category_id == catalogue.skincare.pk
    customer.refresh_from_db()
    assert customer.top_category_id == catalogue.skincare.pk
    assert "护肤 › 乳霜" in _paths()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("茶叶", "There is already a category “茶叶” here."),
        ("  ", "Enter a category name."),
        ("护 › 肤", "Enter a category name."),
    ],
)
def test_a_taken_blank_or_separated_name_is_refused_and_nothing_changes(owner, catalogue, name, words):
    category_create(actor=owner, name="晚霜", parent=catalogue.cream)
    before, audit_before = _paths(), AuditEntry.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        category_rename(actor=owner, category=catalogue.skincare, name=name)

    assert list(refused.value.field_errors) == ["name"]
    assert words in str(refused.value.field_errors["name"][0])
    assert _paths() == before and AuditEntry.objects.count() == audit_before


def test_a_name_taken_under_another_parent_is_free_here(owner, catalogue):
    category_create(actor=owner, name="绿茶", parent=catalogue.tea)

    category_rename(actor=owner, category=catalogue.cream, name="绿茶")

    assert "护肤 › 绿茶" in _paths() and "茶叶 › 绿茶" in _paths()


# --- deleting ---------------------------------------------------------------------------------------------


def test_an_unused_category_is_deleted_and_the_deletion_is_audited(owner, catalogue):
    mistake = category_create(actor=owner, name="错字")
    pk = mistake.pk

    category_delete(actor=owner, category=mistake)

    assert not Category.objects.filter(pk=pk).exists()
    entry = AuditEntry.objects.filter(action="catalogue.change").latest("seq")
    assert (entry.actor_id, entry.target_type, entry.target_id, entry.target_repr) == (
        owner.pk,
        "orders.category",
        str(pk),
        "错字",
    )
    assert entry.data == {"deleted": "错字"}


def test_an_unused_subcategory_is_deleted_and_its_parent_stays(owner, catalogue):
    lotion = category_create(actor=owner, name="乳液", parent=catalogue.skincare)

    category_delete(actor=owner, category=lotion)

    assert _paths() == ["护肤", "护肤 › 面霜", "茶叶"]


def test_a_used_category_is_refused_saying_what_uses_it_and_nothing_changes(owner, catalogue):
    customer = make_customer(actor=owner, name="王芳", owner=owner)
    make_order(actor=owner, customer=customer, store=catalogue.store, lines=[("TONER-100", 2)])
    category_create(actor=owner, name="面膜", parent=catalogue.skincare)
    audit_before = AuditEntry.objects.count()

    with pytest.raises(ValidationFailed) as refused:
        category_delete(actor=owner, category=catalogue.skincare)

    assert str(refused.value.message) == (
        "“护肤” was not deleted: 2 subcategories, 1 product, 1 order line and "
        "1 customer's figures or preferences still use it."
    )
    assert Category.objects.filter(pk=catalogue.skincare.pk).exists()
    assert AuditEntry.objects.count() == audit_before


def test_a_category_only_a_customer_chose_as_a_favourite_is_not_deleted(owner, catalogue):
    incense = category_create(actor=owner, name="香薰")
    customer = make_customer(actor=owner, name="王芳", owner=owner)
    Preference.objects.create(customer=customer).categories.add(incense)

    with pytest.raises(ValidationFailed) as refused:
        category_delete(actor=owner, category=incense)

    assert "1 customer's figures or preferences still use it" in str(refused.value.message)


def test_a_category_that_is_only_some_customers_top_category_is_not_deleted(owner, catalogue):
    customer = make_customer(actor=owner, name="王芳", owner=owner)
    make_order(actor=owner, customer=customer, store=catalogue.store, lines=[("TEA-250", 1)])
    # The spend row and the lines gone (as after a data-subject erasure), the pointer alone still counts.
    CustomerCategorySpend.objects.all().delete()
    OrderLine.objects.update(root_category=None)
    customer.refresh_from_db()
    assert customer.top_category_id == catalogue.tea.pk

    with pytest.raises(ValidationFailed) as refused:
        category_delete(actor=owner, category=catalogue.tea)

    assert str(refused.value.message) == (
        "“茶叶” was not deleted: 1 product and 1 customer's figures or preferences still use it."
    )


def test_every_key_to_a_category_is_one_the_delete_checks():
    """A new key to Category must be added to ``_category_uses`` (and to this list), or a delete could
    cascade into, or be stopped by, rows the merchant was never told about."""
    keys = {
        f"{field.model._meta.label_lower}.{field.name}"
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is Category
    }

    assert keys == {
        "orders.category.parent",
        "orders.category.root",
        "orders.product.category",
        "orders.orderline.root_category",
        "orders.customercategoryspend.category",
        "customers.customer.top_category",
        "engagement.preference_categories.category",
        # Not checked: the dashboard's day totals are counted from the order lines, which are; rows left
        # from lines no longer there go with the category (CASCADE), as a rebuild would drop them.
        "insights.dashboardcategorysales.category",
    }


# --- the Categories page ----------------------------------------------------------------------------------


def test_a_manager_renames_a_category_on_its_page(client_for, manager_east, catalogue):
    client = client_for(manager_east)
    assert client.get(reverse("orders:category-edit", args=[catalogue.skincare.pk])).status_code == 200

    response = client.post(reverse("orders:category-edit", args=[catalogue.skincare.pk]), {"name": "美妆"})

    assert response.status_code == 302
    page = client.get(reverse("orders:categories")).content.decode()
    assert "美妆 › 面霜" in page and "护肤" not in page
    assert AuditEntry.objects.filter(action="catalogue.change").latest("seq").actor_id == manager_east.pk


def test_a_taken_name_is_shown_beside_the_field(client_for, manager_east, catalogue):
    response = client_for(manager_east).post(
        reverse("orders:category-edit", args=[catalogue.skincare.pk]), {"name": "茶叶"}
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert 'data-field="name"' in page and "“茶叶”" in page
    assert _paths() == ["护肤", "护肤 › 面霜", "茶叶"]


def test_the_page_offers_to_delete_only_the_unused_and_deletes_one(client_for, manager_east, catalogue):
    client = client_for(manager_east)
    mistake = category_create(actor=manager_east, name="错字")
    delete_url = reverse("orders:category-delete", args=[mistake.pk])

    page = client.get(reverse("orders:categories")).content.decode()

    assert page.count('data-action="delete"') == 1 and f'action="{delete_url}"' in page
    assert page.count('data-action="rename"') == 4
    assert "类目不能移到别的类目下" in page  # zh-Hans, the tests' language
    response = client.post(delete_url)
    assert response.status_code == 302
    assert not Category.objects.filter(pk=mistake.pk).exists()


def test_deleting_a_used_category_on_the_page_shows_why_it_was_not(client_for, manager_east, catalogue):
    client = client_for(manager_east)

    response = client.post(reverse("orders:category-delete", args=[catalogue.tea.pk]))

    assert response.status_code == 302
    [message] = get_messages(response.wsgi_request)
    assert message.level_tag == "error" and "“茶叶”" in str(message)
    assert Category.objects.filter(pk=catalogue.tea.pk).exists()


def test_who_may_not_change_products_may_neither_rename_nor_delete(client_for, sales_a, catalogue):
    client = client_for(sales_a)
    mistake = category_create(actor=sales_a, name="错字")

    page = client.get(reverse("orders:categories")).content.decode()

    assert 'data-action="rename"' not in page and 'data-action="delete"' not in page
    assert client.get(reverse("orders:category-edit", args=[mistake.pk])).status_code == 403
    assert client.post(reverse("orders:category-edit", args=[mistake.pk]), {"name": "对"}).status_code == 403
    assert client.post(reverse("orders:category-delete", args=[mistake.pk])).status_code == 403
    assert Category.objects.get(pk=mistake.pk).name == "错字"


def test_an_unknown_category_answers_404_and_delete_takes_only_post(client_for, manager_east):
    client = client_for(manager_east)

    assert client.get(reverse("orders:category-edit", args=[999999])).status_code == 404
    assert client.post(reverse("orders:category-delete", args=[999999])).status_code == 404
    assert client.get(reverse("orders:category-delete", args=[999999])).status_code == 405
