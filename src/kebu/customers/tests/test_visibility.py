"""Who sees which customers: staff see their own and the shared pool, managers their team's, admins all.

The rule lives in one selector; these tests try every way in, through the pages and the API, as staff A
reaching for staff B's customer, so a path that forgets the selector fails here."""

from __future__ import annotations

import csv
import io
import json
import re
import threading

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, connections
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import translation

from kebu.core.errors import Conflict, Forbidden, ValidationFailed
from kebu.customers.models import Customer, CustomerEvent, Tag
from kebu.customers.selectors import customer_list, customer_visible_queryset, owner_filter_choices
from kebu.customers.services import (
    CustomerInput,
    PhoneInput,
    customer_archive,
    customer_claim,
    customer_create,
    customer_release,
    customer_restore,
    customer_transfer,
)

pytestmark = pytest.mark.django_db

B_PHONE = "13912345678"


def send(client, method: str, url: str, data=None):
    body = json.dumps(data) if data is not None and method != "get" else None
    return getattr(client, method)(url, data=body, content_type="application/json")


def _own(user, *, name: str, phone: str, **fields) -> Customer:
    return customer_create(
        actor=user,
        data=CustomerInput(name=name, phones=[PhoneInput(number=phone)], owner=user, **fields),
        allow_duplicate_phone=True,
    )


@pytest.fixture
def a_customer(sales_a):
    return _own(sales_a, name="甲的客户", phone="13800001111")


@pytest.fixture
def b_customer(sales_b):
    """Staff B's customer, 王乙乙, with a phone, an email and a WeChat ID that A must never reach."""
    from kebu.customers.services import SocialInput

    return _own(
        sales_b,
        name="王乙乙",
        phone=B_PHONE,
        email="wangyy@example.com",
        socials=[SocialInput(kind="wechat", handle="wangyy_wx")],
    )


@pytest.fixture
def a_client(sales_a, client_for):
    return client_for(sales_a)


def _leaks(body: str, customer: Customer) -> bool:
    return any(marker in body for marker in (customer.name, customer.customer_no, B_PHONE[-8:]))


# --- the list and its search ----------------------------------------------------------------------------


def test_staff_see_their_own_customers_and_not_a_colleagues(sales_a, a_customer, b_customer):
    qs, _filterset = customer_list(user=sales_a, filters={})

    assert list(qs) == [a_customer]


@pytest.mark.parametrize("query", ["王乙乙", "wangyiyi", "wyy", B_PHONE, "5678", "C000002", "2", "wangyy_wx"])
def test_staff_cannot_find_a_colleagues_customer_by_any_search(a_client, a_customer, b_customer, query):
    page = a_client.get(reverse("customers:list"), {"q": query}).content.decode()
    api = a_client.get("/api/v1/customers/", {"q": query}).json()

    rows = page[page.index("<tbody>") : page.index("</tbody>")]  # the query itself is echoed elsewhere
    assert "王乙乙" not in rows and b_customer.customer_no not in rows
    assert [c["id"] for c in api["results"]] == []


def test_the_owner_filter_does_not_open_a_colleagues_list(a_client, sales_b, b_customer):
    page = a_client.get(reverse("customers:list"), {"owner": sales_b.pk}).content.decode()
    api = a_client.get("/api/v1/customers/", {"owner": sales_b.pk}).json()

    assert "王乙乙" not in page
    assert api["results"] == []


# --- one customer by id ---------------------------------------------------------------------------------


def test_a_colleagues_customer_is_404_on_every_page(a_client, b_customer):
    for name in ("detail", "edit"):
        assert a_client.get(reverse(f"customers:{name}", args=[b_customer.pk])).status_code == 404
    for name in ("edit", "archive", "restore", "claim", "release", "transfer", "reveal"):
        assert a_client.post(reverse(f"customers:{name}", args=[b_customer.pk])).status_code == 404
    b_customer.refresh_from_db()
    assert b_customer.version == 1 and b_customer.archived_at is None


def test_a_colleagues_archived_customer_cannot_be_restored(a_client, sales_b, b_customer):
    customer_archive(actor=sales_b, customer=b_customer)

    response = a_client.post(reverse("customers:restore", args=[b_customer.pk]))

    assert response.status_code == 404
    b_customer.refresh_from_db()
    assert b_customer.archived_at is not None


def test_a_colleagues_customer_is_404_in_the_api(a_client, b_customer):
    url = f"/api/v1/customers/{b_customer.pk}/"
    answers = [
        a_client.get(url),
        send(a_client, "patch", url, {"name": "改了", "version": 1}),
        send(a_client, "put", url, {"name": "改了", "version": 1}),
        a_client.delete(url),
        a_client.post(url + "restore/"),
        a_client.post(url + "claim/"),
        send(a_client, "post", url + "release/", {}),
        send(a_client, "post", url + "transfer/", {"to_user": 1}),
    ]

    assert [r.status_code for r in answers] == [404] * len(answers)
    assert all(r.json()["code"] == "not_found" or "detail" in r.json() for r in answers)
    b_customer.refresh_from_db()
    assert b_customer.name == "王乙乙" and b_customer.version == 1


def test_an_unknown_id_and_a_colleagues_id_answer_alike(a_client, b_customer):
    theirs = a_client.get(f"/api/v1/customers/{b_customer.pk}/")
    missing = a_client.get(f"/api/v1/customers/{b_customer.pk + 1000}/")

    assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json())


def test_bulk_actions_skip_a_colleagues_customers(a_client, a_customer, b_customer):
    tag = Tag.objects.create(name="抢客户")
    ids = [a_customer.pk, b_customer.pk]

    a_client.post(reverse("customers:bulk"), {"ids": ids, "action": "tag", "tag": tag.pk})
    a_client.post(reverse("customers:bulk"), {"ids": ids, "action": "stage", "stage": "vip"})

    b_customer.refresh_from_db()
    assert list(b_customer.tags.all()) == [] and b_customer.stage == "lead" and b_customer.version == 1
    assert list(a_customer.tags.all()) == [tag]


def test_a_colleagues_customer_is_not_in_an_export(sales_a, a_client, a_customer, b_customer):
    sales_a.user_permissions.add(Permission.objects.get(codename="export_customer"))

    response = a_client.get(reverse("customers:export"))
    body = b"".join(response.streaming_content).decode("utf-8-sig")

    rows = list(csv.reader(io.StringIO(body)))
    assert [row[0] for row in rows[1:]] == [a_customer.customer_no]
    assert "王乙乙" not in body


def test_the_phone_check_does_not_name_a_colleagues_customer(a_client, b_customer):
    body = a_client.get(reverse("customers:check-phone"), {"phones-0-number": B_PHONE}).content.decode()

    assert "王乙乙" not in body and b_customer.customer_no not in body
    assert f"/customers/{b_customer.pk}/" not in body
    assert "phone-owner-hidden" in body  # "a customer you cannot see already has this number"


def test_the_duplicate_warning_does_not_name_a_colleagues_customer(a_client, b_customer):
    page = a_client.post(
        reverse("customers:create"),
        {
            "name": "新客",
            "customer_type": "individual",
            "stage": "lead",
            "phones-TOTAL_FORMS": "1",
            "phones-INITIAL_FORMS": "0",
            "phones-0-number": B_PHONE,
            "phones-0-label": "mobile",
            "addresses-TOTAL_FORMS": "0",
            "addresses-INITIAL_FORMS": "0",
            "socials-TOTAL_FORMS": "0",
            "socials-INITIAL_FORMS": "0",
            "consents-TOTAL_FORMS": "0",
            "consents-INITIAL_FORMS": "0",
        },
    ).content.decode()
    api = send(a_client, "post", "/api/v1/customers/", {"name": "新客", "phones": [{"number": B_PHONE}]})

    assert 'name="allow_duplicate_phone"' in page
    assert "王乙乙" not in page and b_customer.customer_no not in page
    assert api.status_code == 409 and api.json()["code"] == "duplicate"
    assert "王乙乙" not in api.content.decode() and b_customer.customer_no not in api.content.decode()


def test_a_colleagues_customer_cannot_be_named_as_referrer(a_client, b_customer):
    api = send(a_client, "post", "/api/v1/customers/", {"name": "新客", "referrer": b_customer.pk})

    assert api.status_code == 400 and "referrer" in api.json()


# --- every URL with a customer id -----------------------------------------------------------------------

# Id arguments of URLs under customers/ and api/ that do not name a customer. A new view with an id
# must either be reached below or be listed here with the reason it is not a customer's.
NOT_CUSTOMER_IDS = {
    ("customers", "view-delete"): "a saved view's id, owned by its creator",
    ("", "contact-detail"): "a contact record's id (engagement/tests/test_contacts_api.py)",
    ("", "survey-detail"): "a survey's id (engagement/tests/test_surveys_api.py)",
    (
        "",
        "store-detail",
    ): "a store's id: the shop's, seen by whoever sees orders (orders/tests/test_stores.py)",
    ("", "survey-invitations"): "a survey's id; the customer's is in the body",
    **{("", f"followup-{n}"): "a follow-up's id" for n in ("detail", "done", "snooze", "reassign", "cancel")},
    **{("", f"ticket-{n}"): "a ticket's id" for n in ("detail", "transition", "assign", "note")},
}


def _patterns(resolver: URLResolver, prefix: str = "", namespace: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            child_ns = f"{namespace}:{entry.namespace}" if entry.namespace and namespace else entry.namespace
            yield from _patterns(entry, prefix + str(entry.pattern), child_ns or namespace)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace, entry


def _customer_urls(customer_id: int) -> list[tuple[str, str]]:
    """(name, url) of every URL pattern under customers/ or api/ that takes an id of a customer."""
    found = []
    for route, namespace, pattern in _patterns(get_resolver()):
        if not (route.startswith("customers/") or route.startswith("^customers/") or "api/" in route):
            continue
        params = _param_names(route)
        id_params = params - {"format"}
        if not id_params or pattern.name is None:
            continue
        if (namespace, pattern.name) in NOT_CUSTOMER_IDS:
            continue
        if pattern.name.split("-")[0] in ("tag", "source"):  # the shop's lists, not customers
            continue
        kwargs = {name: customer_id for name in id_params}
        if "format" in params:
            kwargs["format"] = "json"
        name = f"{namespace}:{pattern.name}" if namespace else pattern.name
        found.append((name + (".format" if "format" in params else ""), reverse(name, kwargs=kwargs)))
    return found


def _param_names(route: str) -> set[str]:
    return {a or b for a, b in re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route)}


def test_every_url_with_a_customer_id_answers_404_for_a_colleagues_customer(a_client, b_customer):
    urls = _customer_urls(b_customer.pk)
    names = {name for name, _url in urls}
    # The walk finds the known ways in, so it would find a new one too.
    assert {
        "customers:detail",
        "customers:edit",
        "customers:archive",
        "customers:restore",
        "customers:claim",
        "customers:release",
        "customers:transfer",
        "customers:reveal",
        "customer-detail",
        "customer-detail.format",
        "customer-restore",
        "customer-claim",
        "customer-release",
        "customer-transfer",
    } <= names, names

    for name, url in urls:
        statuses = {}
        for method in ("get", "post", "put", "patch", "delete"):
            response = send(a_client, method, url, {"version": 1, "name": "x", "reason": "x"})
            statuses[method] = response.status_code
        # 404 wherever the view answers the method at all (405: the view does not take it).
        assert set(statuses.values()) <= {404, 405}, (name, url, statuses)
        assert 404 in statuses.values(), (name, url, statuses)

    b_customer.refresh_from_db()
    assert (b_customer.version, b_customer.name, b_customer.archived_at) == (1, "王乙乙", None)
    assert not CustomerEvent.objects.filter(customer=b_customer).exclude(kind="customer.created").exists()


# --- the shared pool ------------------------------------------------------------------------------------


@pytest.fixture
def pool_customer(sales_a):
    return customer_create(actor=sales_a, data=CustomerInput(name="公海客户", owner=None))


def test_the_shared_pool_is_seen_by_all_staff_when_switched_on(sales_a, sales_b, pool_customer):
    for user in (sales_a, sales_b):
        assert list(customer_visible_queryset(user=user)) == [pool_customer]


def test_with_the_pool_switched_off_unowned_customers_are_seen_only_by_those_who_see_all(
    client_for, sales_b, admin_member, pool_customer, pool_off
):
    assert client_for(sales_b).get(reverse("customers:detail", args=[pool_customer.pk])).status_code == 404
    assert (
        client_for(admin_member).get(reverse("customers:detail", args=[pool_customer.pk])).status_code == 200
    )


def test_a_clerk_creating_a_customer_owns_it(a_client, sales_a):
    response = send(a_client, "post", "/api/v1/customers/", {"name": "自己的"})

    assert response.status_code == 201 and response.json()["owner"] == sales_a.pk


def test_a_clerk_cannot_create_a_customer_for_a_colleague(a_client, sales_b):
    response = send(a_client, "post", "/api/v1/customers/", {"name": "塞给别人", "owner": sales_b.pk})

    assert response.status_code == 403
    assert not Customer.objects.exists()


def test_the_owner_cannot_be_changed_by_an_update(a_client, sales_b, a_customer):
    url = f"/api/v1/customers/{a_customer.pk}/"

    patch = send(a_client, "patch", url, {"owner": sales_b.pk, "version": 1})
    put = send(a_client, "put", url, {"name": "甲的客户", "version": 1})

    assert patch.status_code == 400 and "owner" in patch.json()
    assert put.status_code == 200 and put.json()["owner"] == a_customer.owner_id  # kept, not emptied


def test_the_edit_form_keeps_the_owner(a_client, sales_a, a_customer):
    page = a_client.get(reverse("customers:edit", args=[a_customer.pk])).content.decode()

    assert 'name="owner"' not in page


# --- managers and teams ---------------------------------------------------------------------------------


def test_a_manager_sees_their_teams_customers_and_the_pool_not_another_teams(
    manager_east, a_customer, b_customer, pool_customer
):
    own = _own(manager_east, name="主管自己的", phone="13700001111")

    seen = set(customer_visible_queryset(user=manager_east))

    assert seen == {a_customer, own, pool_customer}


def test_a_manager_without_a_team_sees_their_own_and_the_pool(staff_member, a_customer, pool_customer):
    lone = staff_member("manager", "lone_manager")

    assert list(customer_visible_queryset(user=lone)) == [pool_customer]


def test_an_analyst_an_admin_and_a_superuser_see_every_customer(
    analyst, admin_member, owner, a_customer, b_customer
):
    for user in (analyst, admin_member, owner):
        assert set(customer_visible_queryset(user=user)) == {a_customer, b_customer}


def test_someone_without_a_role_sees_no_customer(django_user_model, a_customer):
    nobody = django_user_model.objects.create_user(username="nobody", password="x" * 12)
    client = Client()
    client.force_login(nobody)

    assert list(customer_visible_queryset(user=nobody)) == []
    assert client.get(reverse("customers:detail", args=[a_customer.pk])).status_code == 404
    assert client.get("/api/v1/customers/").status_code == 403


def test_an_inactive_account_sees_nothing(sales_a, a_customer):
    sales_a.is_active = False

    assert list(customer_visible_queryset(user=sales_a)) == []


# --- claiming, releasing, transferring ------------------------------------------------------------------


def test_a_clerk_claims_a_pool_customer_and_it_leaves_the_pool(a_client, sales_a, sales_b, pool_customer):
    response = a_client.post(reverse("customers:claim", args=[pool_customer.pk]))

    assert response.status_code == 302
    pool_customer.refresh_from_db()
    assert pool_customer.owner == sales_a and pool_customer.version == 2
    assert list(customer_visible_queryset(user=sales_b)) == []
    event = CustomerEvent.objects.get(kind="customer.claimed")
    assert event.data["to"] == {"id": sales_a.pk, "name": str(sales_a)} and event.data["from"] is None


def test_of_two_claims_of_the_same_customer_the_second_is_told_it_lost(sales_a, sales_b, pool_customer):
    # given both read the customer while it was in the pool
    read_by_a = Customer.objects.get(pk=pool_customer.pk)
    read_by_b = Customer.objects.get(pk=pool_customer.pk)

    customer_claim(customer=read_by_a, actor=sales_a)
    with pytest.raises(Conflict):
        customer_claim(customer=read_by_b, actor=sales_b)

    pool_customer.refresh_from_db()
    assert pool_customer.owner == sales_a
    assert CustomerEvent.objects.filter(kind="customer.claimed").count() == 1


def test_a_clerk_who_presses_claim_just_after_a_colleague_is_told_the_customer_left_the_pool(
    a_client, sales_b, client_for, b_customer, pool_customer
):
    # given sales B opened the pool customer, then sales A claimed it
    a_client.post(reverse("customers:claim", args=[pool_customer.pk]))
    b_client = client_for(sales_b)

    # when B presses "claim" on the page still open
    late = b_client.post(reverse("customers:claim", args=[pool_customer.pk]))
    # and, for comparison, on an id B never saw
    never = client_for(sales_b).post(reverse("customers:claim", args=[999_999]))

    # then: still a 404 (the customer is out of B's sight), but one that says what happened, and the
    # same words for an id that was never in the pool, so nothing is learnt about who has it
    with translation.override("zh-hans"):
        gone = translation.gettext(
            "This customer is no longer in the shared pool: a colleague may have claimed it first."
        )
    assert late.status_code == never.status_code == 404
    assert gone in late.content.decode() and gone in never.content.decode()
    assert "销售甲" not in late.content.decode() and pool_customer.name not in late.content.decode()


@pytest.mark.django_db(transaction=True)
def test_claims_racing_in_threads_have_exactly_one_winner(staff_member):
    """Four people press "claim" at the same moment: the conditional UPDATE lets one through."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database is shared-cache: concurrent writers fail at once")
    users = [staff_member("sales", f"racer{i}") for i in range(4)]
    customer = customer_create(actor=users[0], data=CustomerInput(name="抢手", owner=None))
    barrier = threading.Barrier(len(users))
    outcomes: list[str] = []

    def claim(user) -> None:
        try:
            stale = Customer.objects.get(pk=customer.pk)
            barrier.wait()
            customer_claim(customer=stale, actor=user)
            outcomes.append("won")
        except Conflict:
            outcomes.append("lost")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["lost", "lost", "lost", "won"]
    assert CustomerEvent.objects.filter(kind="customer.claimed").count() == 1


def test_claiming_needs_the_pool_switched_on(admin_member, pool_customer, pool_off):
    with pytest.raises(Forbidden):
        customer_claim(customer=pool_customer, actor=admin_member)


def test_a_clerk_releases_their_own_customer_to_the_pool(a_client, sales_a, sales_b, a_customer):
    response = a_client.post(reverse("customers:release", args=[a_customer.pk]), {"reason": "不做了"})

    assert response.status_code == 302
    a_customer.refresh_from_db()
    assert a_customer.owner is None
    assert list(customer_visible_queryset(user=sales_b)) == [a_customer]
    assert CustomerEvent.objects.get(kind="customer.released").data["reason"] == "不做了"


def test_with_the_pool_off_only_a_manager_may_release(sales_a, manager_east, a_customer, pool_off):
    with pytest.raises(Forbidden):
        customer_release(customer=a_customer, actor=sales_a)

    customer_release(customer=a_customer, actor=manager_east)

    a_customer.refresh_from_db()
    assert a_customer.owner is None


def test_a_clerk_cannot_release_a_customer_of_their_team_they_do_not_own(staff_member, sales_a, team_east):
    colleague = staff_member("sales", "east_colleague", team=team_east)
    theirs = _own(colleague, name="同组的", phone="13600001111")

    with pytest.raises(Forbidden):
        customer_release(customer=theirs, actor=sales_a)


# --- archiving: the owner's or a manager's call ------------------------------------------------------------


def test_a_clerk_may_not_archive_a_pool_customer_they_can_see(a_client, sales_a, sales_b, pool_customer):
    # given: a customer in the shared pool, which every clerk sees in order to claim it
    # when: one clerk tries to archive it, on its page and through the API
    with pytest.raises(Forbidden):
        customer_archive(actor=sales_a, customer=pool_customer)
    archive_url = reverse("customers:archive", args=[pool_customer.pk])
    page = a_client.post(archive_url, follow=True, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    api = a_client.delete(f"/api/v1/customers/{pool_customer.pk}/", HTTP_ACCEPT_LANGUAGE="en")

    # then: it stays in the pool for everyone, and the clerk is told whose call it is
    pool_customer.refresh_from_db()
    assert pool_customer.archived_at is None
    assert list(customer_visible_queryset(user=sales_b).active()) == [pool_customer]
    assert not CustomerEvent.objects.filter(kind="customer.archived").exists()
    assert (api.status_code, api.json()["code"]) == (403, "forbidden")
    assert "manager" in api.json()["non_field_errors"][0]
    assert "Only the owner or a manager may archive this customer." in page
    assert archive_url not in page  # nor offered again


def test_the_archive_button_is_offered_only_on_customers_one_may_archive(
    a_client, sales_a, pool_customer, a_customer
):
    own = a_client.get(reverse("customers:detail", args=[a_customer.pk])).content.decode()
    pool = a_client.get(reverse("customers:detail", args=[pool_customer.pk])).content.decode()

    assert reverse("customers:archive", args=[a_customer.pk]) in own
    assert reverse("customers:archive", args=[pool_customer.pk]) not in pool


def test_a_clerk_may_not_archive_a_team_colleagues_customer(staff_member, sales_a, team_east):
    colleague = staff_member("sales", "east_colleague", team=team_east)
    theirs = _own(colleague, name="同组的", phone="13600001111")

    with pytest.raises(Forbidden):
        customer_archive(customer=theirs, actor=sales_a)


def test_a_clerk_archives_and_restores_their_own_customer(sales_a, a_customer):
    customer_archive(actor=sales_a, customer=a_customer)
    customer_restore(actor=sales_a, customer=a_customer)

    a_customer.refresh_from_db()
    assert a_customer.archived_at is None


def test_a_manager_archives_a_pool_customer_and_only_a_manager_restores_it(
    manager_east, sales_a, pool_customer
):
    customer_archive(actor=manager_east, customer=pool_customer)
    with pytest.raises(Forbidden):
        customer_restore(actor=sales_a, customer=pool_customer)
    pool_customer.refresh_from_db()
    assert pool_customer.archived_at is not None

    customer_restore(actor=manager_east, customer=pool_customer)

    pool_customer.refresh_from_db()
    assert pool_customer.archived_at is None


def test_a_clerk_whose_customer_was_transferred_since_the_page_loaded_may_not_archive_it(
    manager_east, sales_a, sales_b, a_customer
):
    # given: the clerk's page read the customer as theirs, then a manager gave it to a colleague
    as_loaded = Customer.objects.get(pk=a_customer.pk)
    customer_transfer(customer=a_customer, to_user=sales_b, actor=manager_east)

    # when: the clerk's archive arrives with what the page read
    with translation.override("en"), pytest.raises(Forbidden) as refused:
        customer_archive(actor=sales_a, customer=as_loaded)

    # then: refused as the page would refuse it, and the colleague's customer stays in their list
    assert str(refused.value.message) == "Only the owner or a manager may archive this customer."
    a_customer.refresh_from_db()
    assert a_customer.archived_at is None
    assert not CustomerEvent.objects.filter(kind="customer.archived").exists()


def test_a_clerk_whose_archived_customer_was_transferred_since_the_page_loaded_may_not_restore_it(
    manager_east, sales_a, sales_b, a_customer
):
    customer_archive(actor=sales_a, customer=a_customer)
    as_loaded = Customer.objects.get(pk=a_customer.pk)
    customer_transfer(customer=a_customer, to_user=sales_b, actor=manager_east)

    with translation.override("en"), pytest.raises(Forbidden) as refused:
        customer_restore(actor=sales_a, customer=as_loaded)

    assert str(refused.value.message) == "Only the owner or a manager may restore this customer."
    a_customer.refresh_from_db()
    assert a_customer.archived_at is not None


def test_transferring_needs_the_assign_permission(sales_a, sales_b, a_customer):
    with pytest.raises(Forbidden):
        customer_transfer(customer=a_customer, to_user=sales_b, actor=sales_a)


def test_a_manager_transfers_with_a_reason_and_the_history_shows_it(
    client_for, manager_east, sales_a, sales_b, a_customer
):
    manager = client_for(manager_east)

    response = manager.post(
        reverse("customers:transfer", args=[a_customer.pk]), {"to_user": sales_b.pk, "reason": "客户搬去广州"}
    )

    # B is in the other team: the customer leaves the manager's sight, so back to the list.
    assert response.status_code == 302 and response["Location"] == reverse("customers:list")
    a_customer.refresh_from_db()
    assert a_customer.owner == sales_b
    event = CustomerEvent.objects.get(kind="customer.transferred")
    assert event.actor == manager_east
    assert event.data == {
        "from": {"id": sales_a.pk, "name": str(sales_a)},
        "to": {"id": sales_b.pk, "name": str(sales_b)},
        "reason": "客户搬去广州",
    }
    page = client_for(sales_b).get(reverse("customers:detail", args=[a_customer.pk])).content.decode()
    history = page[page.index('id="ownership-history"') :]
    assert "客户搬去广州" in history and "销售甲" in history and "销售乙" in history


# --- owners to filter by: current colleagues first, former ones only where they still own customers -------


def _options(page: str, first: str) -> list[tuple[str, str]]:
    """(value, label) of the <select> on ``page`` whose first option reads ``first``."""
    start = page.index(f'<option value="">{first}</option>')
    select = page[page.rindex("<select", 0, start) : page.index("</select>", start)]
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select)


@pytest.fixture
def former(staff_member):
    """王芳, who left the shop (switched off) and still owns a customer; 李雷, who left owning nothing.
    Their usernames sort before everyone's, so the order below is not the alphabet's."""
    wangfang = staff_member("sales", "a_wangfang", display_name="王芳")
    customer = _own(wangfang, name="王芳的客户", phone="13700001111")
    wangfang.is_active = False
    wangfang.save(update_fields=["is_active"])
    lilei = staff_member("sales", "a_lilei", display_name="李雷", is_active=False)
    return wangfang, lilei, customer


def test_the_owner_filter_lists_current_colleagues_then_former_ones_who_still_own_customers(
    client_for, admin_member, sales_a, analyst, former
):
    wangfang, _lilei, theirs = former
    client = client_for(admin_member)

    page = client.get(reverse("customers:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    filtered = client.get(reverse("customers:list"), {"owner": wangfang.pk}).content.decode()

    # Colleagues who work with customers, then 王芳 marked; not 李雷, nor the analyst who owns nothing.
    assert [label for _value, label in _options(page, "All owners")] == [
        "All owners",
        "No owner",
        "管理员",
        "销售甲",
        "王芳 (deactivated)",
    ]
    assert "王芳的客户" in filtered and theirs.customer_no in filtered


def test_a_former_colleague_is_offered_only_to_whom_sees_their_customers(sales_a, manager_east, former):
    wangfang, _lilei, _theirs = former

    # 王芳 was in no team: a clerk or the east team's manager would filter by her and see nothing.
    for user in (sales_a, manager_east):
        assert str(wangfang.pk) not in dict(owner_filter_choices(user=user)), user


def test_no_new_owner_picker_offers_a_former_colleague(client_for, admin_member, a_customer, former):
    wangfang, lilei, _theirs = former
    client = client_for(admin_member)
    pages = {
        "transfer": client.get(reverse("customers:detail", args=[a_customer.pk])),
        "bulk assign": client.get(reverse("customers:list")),
        "owner of a new customer": client.get(reverse("customers:create")),
    }

    for name, response in pages.items():
        selects = re.findall(
            r'<select[^>]*name="(?:to_user|owner)"[^>]*>(.*?)</select>', response.content.decode(), re.S
        )
        # Every owner select but the list's filter (the one offering value "null", the shared pool).
        pickers = [body for body in selects if 'value="null"' not in body]
        assert pickers, name
        for body in pickers:
            assert f'value="{admin_member.pk}"' in body, name  # a current colleague is offered
            for gone in (wangfang, lilei):
                assert f'value="{gone.pk}"' not in body, name


def test_a_transfer_goes_to_an_active_colleague_who_works_with_customers(
    manager_east, staff_member, a_customer, django_user_model
):
    gone = staff_member("sales", "gone", is_active=False)
    no_role = django_user_model.objects.create_user(username="no_role", password="x" * 12)

    for target in (gone, no_role):
        with pytest.raises(ValidationFailed):
            customer_transfer(customer=a_customer, to_user=target, actor=manager_east)


def test_a_customer_is_not_given_to_a_colleague_who_may_only_read_customers(
    manager_east, analyst, readonly, a_customer, client_for
):
    # An analyst or a read-only colleague sees customers but may not change, claim or release them: the
    # customer would sit with an owner who can do nothing for it.
    page = client_for(manager_east).get(reverse("customers:detail", args=[a_customer.pk])).content.decode()
    offered = page[page.index('name="to_user"') :]
    offered = offered[: offered.index("</select>")]
    for target in (analyst, readonly):
        assert f'<option value="{target.pk}"' not in offered
        with pytest.raises(ValidationFailed):
            customer_transfer(customer=a_customer, to_user=target, actor=manager_east)
    a_customer.refresh_from_db()
    assert a_customer.owner_id == a_customer.created_by_id


def test_a_sheets_owner_goes_only_to_whom_a_transfer_could_give_the_customer(
    manager_east, staff_member, a_customer, django_user_model
):
    from kebu.customers.services import customer_import_merge, customer_input_check

    gone = staff_member("sales", "gone", is_active=False)
    no_role = django_user_model.objects.create_user(username="no_role", password="x" * 12)
    before = a_customer.version

    for target in (gone, no_role):
        checked = customer_input_check(data=CustomerInput(name=a_customer.name, owner=target), definitions=[])
        with pytest.raises(ValidationFailed) as refused:
            customer_import_merge(
                actor=manager_east,
                customer=Customer.objects.get(pk=a_customer.pk),
                checked=checked,
                provided=frozenset({"owner"}),
                definitions=[],
                import_id=1,
            )
        assert list(refused.value.field_errors) == ["owner"]

    a_customer.refresh_from_db()
    assert (a_customer.owner_id, a_customer.version) == (a_customer.created_by_id, before)
    assert not CustomerEvent.objects.filter(customer=a_customer, kind="customer.transferred").exists()


def test_a_transfer_from_a_stale_read_conflicts(manager_east, sales_a, sales_b, a_customer):
    stale = Customer.objects.get(pk=a_customer.pk)
    customer_release(customer=a_customer, actor=sales_a)

    with pytest.raises(Conflict):
        customer_transfer(customer=stale, to_user=sales_b, actor=manager_east)


def test_ownership_changes_are_audited(manager_east, sales_b, a_customer):
    from kebu.audit.models import AuditEntry

    customer_transfer(customer=a_customer, to_user=sales_b, actor=manager_east, reason="调整")

    entry = AuditEntry.objects.get(action="customer.assign")
    assert entry.actor == manager_east and entry.target_id == str(a_customer.pk)
    assert entry.data["kind"] == "customer.transferred" and entry.data["reason"] == "调整"


def test_the_api_claims_and_transfers(client_for, sales_a, manager_east, pool_customer):
    url = f"/api/v1/customers/{pool_customer.pk}/"

    claimed = client_for(sales_a).post(url + "claim/")
    again = client_for(manager_east).post(url + "claim/")
    moved = send(client_for(manager_east), "post", url + "transfer/", {"to_user": manager_east.pk})

    assert claimed.status_code == 200 and claimed.json()["owner"] == sales_a.pk
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert moved.status_code == 200 and moved.json()["owner"] == manager_east.pk


def test_a_customer_of_a_former_colleague_says_their_owner_left(client_for, admin_member, former):
    # Their customers stay theirs until handed over: the list and the customer page say the owner left,
    # so nobody waits for 王芳 to call back.
    _wangfang, _lilei, theirs = former
    client = client_for(admin_member)

    listing = client.get(reverse("customers:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    page = client.get(
        reverse("customers:detail", args=[theirs.pk]), HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()

    row = listing[listing.index(theirs.customer_no) :]
    assert "王芳 (deactivated)" in row[: row.index("</tr>")]
    card = page[page.index('id="ownership"') :]
    assert "王芳 (deactivated)" in card[: card.index("</span>")]
