"""The REST API promises: CRUD through the services, one error shape, optimistic locking, duplicate
warnings, idempotent creates, a cursor that walks every sort, a schema and docs that work offline."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kebu.customers.filters import ORDERINGS
from kebu.customers.models import Address, Customer, CustomerEvent, CustomerPhone, SourceChannel, Tag
from kebu.customers.tests.factories import CustomFieldFactory, TagFactory, make_customer, source

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/customers/"


def detail_url(customer_id: int) -> str:
    return f"/api/v1/customers/{customer_id}/"


def send(client, method: str, url: str, data: Any = None, **headers: str):
    body = json.dumps(data) if data is not None else None
    return getattr(client, method)(url, data=body, content_type="application/json", headers=headers)


def full_payload(**overrides: Any) -> dict[str, Any]:
    vip = TagFactory(name="VIP", color="red")
    wholesale = TagFactory(name="批发", color="green")
    data = {
        "name": "张三",
        "gender": "m",
        "birthday": "1990-05-17",
        "email": "Zhang.San@Example.com",
        "customer_type": "retailer",
        "stage": "new",
        "source": source("淘宝").pk,
        "notes": "<b>爱买茶</b>",
        "tags": [vip.pk, wholesale.pk],
        "phones": [{"number": "+86 138-1234-5678", "label": "mobile"}],
        "addresses": [
            {
                "province": "广东省",
                "city": "深圳市",
                "district": "南山区",
                "detail": "科技园路 1 号",
                "receiver": "张三",
                "receiver_phone": "13812345678",
                "is_default": True,
            }
        ],
        "socials": [{"kind": "wechat", "handle": "ZhangSan_88"}],
        "consents": [{"channel": "sms", "granted": True, "method": "verbal", "evidence": "电话"}],
    }
    data.update(overrides)
    return data


# --- CRUD ---------------------------------------------------------------------------------------------


def test_create_stores_every_part_and_answers_the_full_customer(clerk_client, clerk):
    response = send(clerk_client, "post", LIST_URL, full_payload())

    assert response.status_code == 201, response.json()
    body = response.json()
    customer = Customer.objects.get()
    assert body["id"] == customer.pk
    assert body["customer_no"] == "C000001"
    assert body["version"] == 1
    assert body["primary_phone"] == "+8613812345678"
    assert (body["province"], body["city"]) == ("广东省", "深圳市")
    assert body["age"] is not None
    assert body["created_by"] == clerk.pk
    assert body["archived_at"] is None
    assert body["phones"] == [{"number": "+8613812345678", "label": "mobile"}]
    assert body["addresses"][0]["receiver_phone"] == "+8613812345678"
    assert body["socials"] == [{"kind": "wechat", "handle": "ZhangSan_88", "kind_label": ""}]
    assert body["consents"][0]["channel"] == "sms" and body["consents"][0]["granted"] is True
    assert sorted(t["name"] for t in body["tags"]) == ["VIP", "批发"]
    assert set(body["tags"][0]) == {"id", "name", "color"}
    assert body["notes"] == "<b>爱买茶</b>"
    assert response["Location"].endswith(detail_url(customer.pk))
    assert response["ETag"] == '"1"'


def test_retrieve_answers_the_customer_and_an_unknown_id_answers_404(clerk_client, clerk):
    customer = make_customer(actor=clerk, name="李四")

    found = clerk_client.get(detail_url(customer.pk))
    missing = clerk_client.get(detail_url(customer.pk + 1000))

    assert found.status_code == 200
    assert found.json()["name"] == "李四"
    assert found["ETag"] == f'"{customer.version}"'
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_put_replaces_the_profile_and_bumps_the_version(clerk_client):
    created = send(clerk_client, "post", LIST_URL, full_payload()).json()

    response = send(
        clerk_client,
        "put",
        detail_url(created["id"]),
        {"name": "张三丰", "phones": [{"number": "13900001111"}], "version": created["version"]},
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "张三丰"
    assert body["version"] == created["version"] + 1
    assert [p["number"] for p in body["phones"]] == ["+8613900001111"]
    # PUT replaces: what was not sent is emptied.
    assert body["tags"] == [] and body["addresses"] == [] and body["email"] == ""


def test_patch_changes_only_what_was_sent(clerk_client):
    created = send(clerk_client, "post", LIST_URL, full_payload()).json()

    response = send(clerk_client, "patch", detail_url(created["id"]), {"stage": "vip", "version": 1})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["stage"] == "vip"
    assert body["name"] == "张三"
    assert body["phones"] == created["phones"]
    assert body["addresses"] == created["addresses"]
    assert body["socials"] == created["socials"]
    assert [t["id"] for t in body["tags"]] == [t["id"] for t in created["tags"]]
    assert body["email"] == created["email"]


def test_an_address_with_its_region_alone_goes_in_and_comes_back_as_it_went(
    clerk_client, analyst, client_for
):
    # given: one region left without a street, one with it blank
    region = {"province": "广东省", "city": "深圳市"}
    created = send(clerk_client, "post", LIST_URL, {"name": "孙八", "addresses": [region]})

    # then: the region is the customer's, and the answer says the street is blank, as it is stored
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["province"], body["city"]) == ("广东省", "深圳市")
    assert body["addresses"] == [
        {**region, "district": "", "detail": "", "receiver": "", "receiver_phone": "", "is_default": True}
    ]
    assert Address.objects.get().detail == ""
    # the answer sent back changes nothing, and reads the same to someone who sees contacts masked
    again = send(
        clerk_client,
        "put",
        detail_url(body["id"]),
        {"name": "孙八", "addresses": body["addresses"], "version": 1},
    )
    assert again.status_code == 200, again.json()
    assert again.json()["addresses"] == body["addresses"]
    masked = client_for(analyst).get(detail_url(body["id"])).json()
    assert masked["addresses"] == body["addresses"]
    # a street without its province is refused, as ever
    street = send(
        clerk_client,
        "post",
        LIST_URL,
        {"name": "周九", "addresses": [{"detail": "文三路 1 号", "province": ""}]},
    )
    assert street.status_code == 400 and "addresses.0.province" in street.json()


def test_patch_merges_custom_values_by_key(clerk_client):
    CustomFieldFactory(key="wechat_group", field_type="text")
    CustomFieldFactory(key="size", field_type="choice", choices=["S", "M", "L"])
    created = send(
        clerk_client, "post", LIST_URL, {"name": "王五", "custom": {"wechat_group": "一群", "size": "M"}}
    ).json()

    response = send(clerk_client, "patch", detail_url(created["id"]), {"custom": {"size": "L"}, "version": 1})

    assert response.json()["custom"] == {"wechat_group": "一群", "size": "L"}


def test_delete_archives_and_restore_brings_back(clerk_client, clerk):
    customer = make_customer(actor=clerk, name="赵六", owner=clerk)

    deleted = clerk_client.delete(detail_url(customer.pk))
    listed_after_delete = clerk_client.get(LIST_URL).json()["results"]
    restored = clerk_client.post(f"{detail_url(customer.pk)}restore/")

    assert deleted.status_code == 204
    assert listed_after_delete == []
    assert Customer.objects.filter(pk=customer.pk).exists()
    assert restored.status_code == 200
    assert restored.json()["archived_at"] is None
    assert [c["id"] for c in clerk_client.get(LIST_URL).json()["results"]] == [customer.pk]
    kinds = list(CustomerEvent.objects.filter(customer=customer).values_list("kind", flat=True))
    assert "customer.archived" in kinds and "customer.restored" in kinds


def test_archived_customer_is_still_readable_by_id(clerk_client, clerk):
    customer = make_customer(actor=clerk, name="赵六", owner=clerk)
    clerk_client.delete(detail_url(customer.pk))

    response = clerk_client.get(detail_url(customer.pk))

    assert response.status_code == 200
    assert response.json()["archived_at"] is not None


def test_owner_can_be_set_by_id_but_not_to_an_inactive_user(owner_client, staff_member):
    # Naming another owner is assigning: an admin may (a sales clerk may not, see test_visibility).
    colleague = staff_member("sales", "xiaoli")
    gone = staff_member("sales", "left", is_active=False)

    ok = send(owner_client, "post", LIST_URL, {"name": "甲", "owner": colleague.pk})
    refused = send(owner_client, "post", LIST_URL, {"name": "乙", "owner": gone.pk})

    assert ok.status_code == 201 and ok.json()["owner"] == colleague.pk
    assert refused.status_code == 400 and "owner" in refused.json()


def test_referrer_must_be_an_existing_customer(clerk_client, clerk):
    referrer = make_customer(actor=clerk, name="介绍人")

    ok = send(clerk_client, "post", LIST_URL, {"name": "新客", "referrer": referrer.pk})
    refused = send(clerk_client, "post", LIST_URL, {"name": "新客二", "referrer": referrer.pk + 999})

    assert ok.status_code == 201 and ok.json()["referrer"] == referrer.pk
    assert refused.status_code == 400 and "referrer" in refused.json()


def test_a_customer_cannot_refer_themselves(clerk_client, clerk):
    customer = make_customer(actor=clerk, name="自己")

    response = send(clerk_client, "patch", detail_url(customer.pk), {"referrer": customer.pk, "version": 1})

    assert response.status_code == 400
    assert "referrer" in response.json()


def test_read_only_fields_in_the_input_are_ignored(clerk_client, clerk, owner):
    response = send(
        clerk_client,
        "post",
        LIST_URL,
        {
            "name": "钱七",
            "customer_no": "X999999",
            "created_by": owner.pk,
            "updated_by": owner.pk,
            "version": 42,
            "primary_phone": "+8613700000000",
            "province": "北京市",
            "archived_at": "2020-01-01T00:00:00Z",
        },
    )

    assert response.status_code == 201
    customer = Customer.objects.get()
    assert customer.customer_no == "C000001"
    assert customer.created_by == clerk and customer.updated_by == clerk
    assert customer.version == 1
    assert customer.primary_phone == "" and customer.province == ""
    assert customer.archived_at is None


# --- errors -------------------------------------------------------------------------------------------


def test_a_bad_phone_answers_400_keyed_by_its_dotted_path_and_writes_nothing(clerk_client):
    response = send(
        clerk_client,
        "post",
        LIST_URL,
        {"name": "孙八", "phones": [{"number": "13812345678"}, {"number": "1381234"}]},
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body) == ["phones.1.number", "code"]
    assert Customer.objects.count() == 0 and CustomerPhone.objects.count() == 0


def test_shape_errors_use_the_same_dotted_paths(clerk_client):
    response = send(
        clerk_client,
        "post",
        LIST_URL,
        {
            "name": "孙八",
            "addresses": [{"province": "广东省", "detail": "x", "is_default": "maybe"}],
            "tags": [999],
        },
    )

    assert response.status_code == 400
    body = response.json()
    assert "addresses.0.is_default" in body
    assert "tags" in body
    assert body["code"] == "invalid"


def test_a_wrong_address_answers_400_on_its_field(clerk_client):
    response = send(
        clerk_client, "post", LIST_URL, {"name": "孙八", "addresses": [{"province": "火星", "detail": "1号"}]}
    )

    assert response.status_code == 400
    assert "addresses.0.province" in response.json()


def test_malformed_json_answers_400(clerk_client):
    response = clerk_client.post(LIST_URL, data="{not json", content_type="application/json")

    assert response.status_code == 400


def test_deeply_nested_json_answers_400_not_500(clerk_client):
    response = clerk_client.post(
        LIST_URL, data="[" * 100_000 + "]" * 100_000, content_type="application/json"
    )

    assert response.status_code == 400


def test_a_body_over_the_upload_limit_is_refused(clerk_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000

    response = send(clerk_client, "post", LIST_URL, {"name": "大", "notes": "x" * 20_000})

    assert response.status_code == 400
    assert Customer.objects.count() == 0


# --- duplicates ---------------------------------------------------------------------------------------


def test_a_phone_another_customer_has_answers_409_naming_them(clerk_client, clerk):
    first = make_customer(actor=clerk, name="张三", phone="13812345678")

    response = send(
        clerk_client, "post", LIST_URL, {"name": "张三二号", "phones": [{"number": "138 1234 5678"}]}
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "duplicate"
    assert first.customer_no in json.dumps(body, ensure_ascii=False)
    assert Customer.objects.count() == 1


def test_allow_duplicate_phone_saves_anyway(clerk_client, clerk):
    make_customer(actor=clerk, name="张三", phone="13812345678")

    response = send(
        clerk_client,
        "post",
        LIST_URL,
        {"name": "张三二号", "phones": [{"number": "13812345678"}], "allow_duplicate_phone": True},
    )

    assert response.status_code == 201
    assert Customer.objects.count() == 2


def test_update_with_a_duplicate_phone_answers_409(clerk_client, clerk):
    make_customer(actor=clerk, name="张三", phone="13812345678")
    other = make_customer(actor=clerk, name="李四", phone="13900001111")

    response = send(
        clerk_client, "patch", detail_url(other.pk), {"phones": [{"number": "13812345678"}], "version": 1}
    )

    assert response.status_code == 409 and response.json()["code"] == "duplicate"
    other.refresh_from_db()
    assert other.primary_phone == "+8613900001111" and other.version == 1


# --- concurrency --------------------------------------------------------------------------------------


def test_an_update_from_a_stale_version_answers_409_and_keeps_the_first_save(clerk_client, clerk):
    customer = make_customer(actor=clerk, name="周九")
    first = send(clerk_client, "patch", detail_url(customer.pk), {"name": "周九甲", "version": 1})

    second = send(clerk_client, "patch", detail_url(customer.pk), {"name": "周九乙", "version": 1})

    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json()["code"] == "conflict"
    customer.refresh_from_db()
    assert customer.name == "周九甲" and customer.version == 2


def test_if_match_carries_the_version(clerk_client, clerk):
    customer = make_customer(actor=clerk, name="周九")
    etag = clerk_client.get(detail_url(customer.pk))["ETag"]

    ok = send(clerk_client, "patch", detail_url(customer.pk), {"name": "周九甲"}, If_Match=etag)
    stale = send(clerk_client, "patch", detail_url(customer.pk), {"name": "周九乙"}, If_Match=etag)

    assert ok.status_code == 200, ok.json()
    assert ok["ETag"] == '"2"'
    assert stale.status_code == 409


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_without_a_version_is_refused(clerk_client, clerk, method):
    customer = make_customer(actor=clerk, name="周九")

    response = send(clerk_client, method, detail_url(customer.pk), {"name": "周九甲"})

    assert response.status_code == 400
    assert "version" in response.json()
    customer.refresh_from_db()
    assert customer.name == "周九"


def test_a_body_version_that_contradicts_if_match_is_refused(clerk_client, clerk):
    customer = make_customer(actor=clerk, name="周九")

    response = send(
        clerk_client, "patch", detail_url(customer.pk), {"name": "甲", "version": 1}, If_Match='"7"'
    )

    assert response.status_code == 400 and "version" in response.json()


# --- idempotency --------------------------------------------------------------------------------------


def test_the_same_idempotency_key_creates_one_customer_and_answers_it_twice(clerk_client):
    payload = {"name": "吴十", "phones": [{"number": "13812345678"}]}

    first = send(clerk_client, "post", LIST_URL, payload, Idempotency_Key="order-form-7f3a")
    second = send(clerk_client, "post", LIST_URL, payload, Idempotency_Key="order-form-7f3a")

    assert first.status_code == 201 and second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert Customer.objects.count() == 1


def test_different_idempotency_keys_create_different_customers(clerk_client):
    payload = {"name": "吴十", "phones": [{"number": "13812345678"}], "allow_duplicate_phone": True}

    send(clerk_client, "post", LIST_URL, payload, Idempotency_Key="a")
    send(clerk_client, "post", LIST_URL, payload, Idempotency_Key="b")

    assert Customer.objects.count() == 2


def test_an_overlong_idempotency_key_is_refused(clerk_client):
    response = send(clerk_client, "post", LIST_URL, {"name": "吴十"}, Idempotency_Key="k" * 81)

    assert response.status_code == 400 and "idempotency_key" in response.json()
    assert Customer.objects.count() == 0


# --- list, filters, cursor ----------------------------------------------------------------------------


def _walk(client, url: str) -> tuple[list[int], int]:
    ids: list[int] = []
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        ids.extend(c["id"] for c in body["results"])
        pages += 1
        url = body["next"]
    return ids, pages


def _walk_back(client, url: str) -> list[int]:
    ids: list[int] = []
    while url:
        body = client.get(url).json()
        ids[:0] = [c["id"] for c in body["results"]]
        url = body["previous"]
    return ids


@pytest.fixture
def many_customers(clerk, staff_member):
    """120 customers with ties on every sort column, NULL birthdays, owners and sources: owned by the
    clerk, by a colleague in the clerk's team and by nobody (the shared pool). The clerk also manages
    the team here, so sees all of them."""
    from kebu.accounts.models import Team
    from kebu.accounts.roles import role_assign

    team = Team.objects.create(name="一组")
    clerk.team = team
    clerk.save()
    role_assign(user=clerk, key="manager")
    other = staff_member("sales", "xiaoli", team=team)
    sources = [source("淘宝"), source("抖音"), None]
    stages = ["lead", "new", "vip"]
    customers = []
    for i in range(120):
        customers.append(
            make_customer(
                actor=clerk,
                name=["张三", "李四", "Amy", "王五"][i % 4],
                stage=stages[i % 3],
                source=sources[i % 3],
                owner=[clerk, other, None][i % 4 % 3],
                birthday=None if i % 5 == 0 else date(1980 + i % 7, 6, 15),
            )
        )
    # Many identical timestamps: the cursor must break ties on id, not lose or repeat rows.
    same = timezone.now() - timedelta(days=1)
    Customer.objects.filter(pk__in=[c.pk for c in customers[:60]]).update(created_at=same, updated_at=same)
    return customers


def test_the_cursor_walks_all_pages_without_overlap_or_gaps(clerk_client, many_customers):
    ids, pages = _walk(clerk_client, LIST_URL)

    assert pages == 3
    assert len(ids) == len(set(ids)) == 120
    assert set(ids) == {c.pk for c in many_customers}


def test_the_cursor_follows_every_sort_forwards_and_backwards(clerk_client, many_customers):
    # One fixture for all sorts: building 120 customers per sort would make the suite crawl.
    for sort in ORDERINGS:
        url = f"{LIST_URL}?sort={sort}&page_size=17"
        ids, pages = _walk(clerk_client, url)

        assert len(ids) == len(set(ids)) == 120, sort
        assert pages == 8, sort
        # The order of the sort's first column, NULLs last.
        first_column = ORDERINGS[sort][0].lstrip("-")
        by_id = {c.pk: getattr(c, first_column) for c in Customer.objects.filter(pk__in=ids)}
        present = [by_id[i] for i in ids if by_id[i] is not None]
        assert present == sorted(present, reverse=sort.startswith("-")), sort
        assert all(by_id[i] is None for i in ids[len(present) :]), sort
        # Walking back from the last page gives the same order.
        last_page = clerk_client.get(url).json()
        while last_page["next"]:
            last_page = clerk_client.get(last_page["next"]).json()
        back = _walk_back(clerk_client, last_page["previous"])
        assert back + [c["id"] for c in last_page["results"]] == ids, sort


def test_page_size_is_capped_at_200(clerk_client, many_customers):
    body = clerk_client.get(f"{LIST_URL}?page_size=1000").json()

    assert len(body["results"]) == 120
    assert body["next"] is None


@pytest.mark.parametrize("asked", ["0", "-5", "abc", "2.5", "5_0", "+5", "٥"])
@pytest.mark.parametrize("url", [LIST_URL, "/api/v1/source-channels/"])
def test_a_page_size_that_is_no_whole_number_from_1_is_refused_naming_it_and_the_range(
    clerk_client, clerk, url, asked
):
    # given: a list with something on it, so a silent default page would look like an answer
    make_customer(actor=clerk, name="张三")

    # when: a client sends a page size no page can have
    response = clerk_client.get(url, {"page_size": asked}, headers={"accept-language": "en"})

    # then: 400 in the API's shape for a bad parameter, saying which one and what it takes
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    assert body["page_size"] == [
        "page_size must be a whole number from 1 to 200 (leave it out for 50 a page)."
    ]


def test_a_page_size_left_out_or_blank_is_the_default_of_50(clerk_client, many_customers):
    for query in ("", "?page_size=", "?page_size=%20"):
        body = clerk_client.get(f"{LIST_URL}{query}").json()

        assert len(body["results"]) == 50, query


def test_a_cursor_from_another_sort_or_garbage_is_refused(clerk_client, many_customers):
    next_url = clerk_client.get(f"{LIST_URL}?sort=name").json()["next"]
    cursor = re.search(r"cursor=([^&]+)", next_url).group(1)

    other_sort = clerk_client.get(f"{LIST_URL}?sort=-created_at&cursor={cursor}")
    garbage = clerk_client.get(f"{LIST_URL}?cursor=bm9wZQ", headers={"accept-language": "en"})

    assert other_sort.status_code == 404
    assert garbage.status_code == 404
    # Told apart from a missing customer, with what to do.
    assert other_sort.json()["code"] == garbage.json()["code"] == "invalid_cursor"
    assert "page one" in garbage.json()["detail"]


def test_a_write_between_pages_does_not_repeat_or_skip_rows(clerk_client, clerk, many_customers):
    first = clerk_client.get(f"{LIST_URL}?page_size=50").json()
    make_customer(actor=clerk, name="新来的")  # newest: sorts before the page already read

    rest, _pages = _walk(clerk_client, first["next"])

    seen = [c["id"] for c in first["results"]] + rest
    assert len(seen) == len(set(seen)) == 120


def test_filters_come_from_the_query_string(clerk_client, clerk):
    vip = TagFactory(name="VIP")
    zhang = make_customer(actor=clerk, name="张三", phone="13812345678", stage="vip", tags=[vip])
    make_customer(actor=clerk, name="李四", stage="lead")

    def ids(query: str) -> list[int]:
        response = clerk_client.get(f"{LIST_URL}?{query}")
        assert response.status_code == 200, response.json()
        return [c["id"] for c in response.json()["results"]]

    assert ids("q=zs") == [zhang.pk]
    assert ids("q=5678") == [zhang.pk]
    assert ids("stage=vip") == [zhang.pk]
    assert ids(f"tag={vip.pk}") == [zhang.pk]
    assert ids("stage=vip&stage=lead") and len(ids("stage=vip&stage=lead")) == 2
    assert ids("sort=name")[0] != ids("sort=-name")[0]


def test_an_invalid_filter_answers_400_naming_it(clerk_client):
    response = clerk_client.get(f"{LIST_URL}?sort=favourite&created_after=yesterday")

    assert response.status_code == 400
    body = response.json()
    assert "sort" in body and "created_after" in body


def test_the_list_reads_a_bounded_number_of_queries(clerk_client, clerk):
    tags = [TagFactory(name=f"t{i}") for i in range(3)]
    for i in range(5):
        make_customer(actor=clerk, name=f"客{i}", tags=tags)
    clerk_client.get(LIST_URL)  # warm the session and content types

    with CaptureQueriesContext(connection) as few:
        clerk_client.get(LIST_URL)
    for i in range(30):
        make_customer(actor=clerk, name=f"多{i}", tags=tags)
    with CaptureQueriesContext(connection) as many:
        response = clerk_client.get(LIST_URL)

    assert len(response.json()["results"]) == 35
    # Visibility reads the user's permissions (2 queries) and the shared-pool switch once per request.
    assert len(many) == len(few) <= 9


# --- auth, schema, docs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", LIST_URL), ("post", LIST_URL), ("get", "/api/v1/customers/1/"), ("get", "/api/v1/tags/")],
)
def test_anonymous_requests_are_refused(client, method, url):
    response = send(client, method, url, {"name": "x"} if method == "post" else None)

    assert response.status_code in (401, 403)
    assert Customer.objects.count() == 0


def test_the_schema_documents_the_customer_endpoints_and_filters(clerk_client):
    response = clerk_client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert "/api/v1/customers/" in schema["paths"]
    assert "/api/v1/customers/{id}/restore/" in schema["paths"]
    params = {p["name"] for p in schema["paths"]["/api/v1/customers/"]["get"]["parameters"]}
    assert {"q", "stage", "tag", "owner", "province", "city", "created_after", "archived", "sort"} <= params
    assert {"cursor", "page_size"} <= params
    create_params = {p["name"] for p in schema["paths"]["/api/v1/customers/"]["post"]["parameters"]}
    assert "Idempotency-Key" in create_params


def test_the_docs_page_loads_only_local_assets(clerk_client):
    response = clerk_client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r"<(?:script|link)\b[^>]*(?:src|href)=[\"']([^\"']+)", html)
    assert assets, html
    assert not [a for a in assets if re.match(r"^(https?:)?//", a)]


# --- tags and source channels -------------------------------------------------------------------------


def test_tags_crud(owner_client):
    clerk_client = owner_client  # settings lists are an admin's to change
    created = send(clerk_client, "post", "/api/v1/tags/", {"name": "回头客", "color": "green"})
    tag_id = created.json()["id"]
    renamed = send(clerk_client, "patch", f"/api/v1/tags/{tag_id}/", {"name": "老客"})
    listed = clerk_client.get("/api/v1/tags/").json()["results"]
    duplicate = send(clerk_client, "post", "/api/v1/tags/", {"name": "老客"})
    deleted = clerk_client.delete(f"/api/v1/tags/{tag_id}/")

    assert created.status_code == 201
    assert renamed.json() == {"id": tag_id, "name": "老客", "color": "green"}
    assert listed == [{"id": tag_id, "name": "老客", "color": "green"}]
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    assert deleted.status_code == 204 and not Tag.objects.exists()


def test_source_channels_crud(owner_client):
    created = send(owner_client, "post", "/api/v1/source-channels/", {"name": "快手", "position": 20})
    channel_id = created.json()["id"]
    updated = send(owner_client, "patch", f"/api/v1/source-channels/{channel_id}/", {"is_active": False})
    deleted = owner_client.delete(f"/api/v1/source-channels/{channel_id}/")

    assert created.status_code == 201
    assert updated.json()["is_active"] is False
    assert deleted.status_code == 204
    assert not SourceChannel.objects.filter(pk=channel_id).exists()


def test_deleting_a_source_channel_in_use_answers_400_with_a_message(owner_client, clerk):
    channel = source("快手")
    make_customer(actor=clerk, name="用户", source=channel)

    response = owner_client.delete(f"/api/v1/source-channels/{channel.pk}/")

    assert response.status_code == 400
    assert "快手" in response.json()["non_field_errors"][0]
    assert SourceChannel.objects.filter(pk=channel.pk).exists()


def test_source_channels_list_walks_the_seeded_channels(clerk_client):
    ids, _pages = _walk(clerk_client, "/api/v1/source-channels/?page_size=4")

    assert len(ids) == len(set(ids)) == SourceChannel.objects.count() > 4


def test_address_rows_are_kept_on_patch_of_other_fields(clerk_client):
    created = send(clerk_client, "post", LIST_URL, full_payload()).json()

    send(clerk_client, "patch", detail_url(created["id"]), {"notes": "改了备注", "version": 1})

    assert Address.objects.filter(customer_id=created["id"]).count() == 1


def test_the_browsable_api_renders_list_and_detail(clerk_client, clerk):
    customer = make_customer(actor=clerk, name="张三")

    listed = clerk_client.get(LIST_URL, headers={"Accept": "text/html"})
    shown = clerk_client.get(detail_url(customer.pk), headers={"Accept": "text/html"})

    assert listed.status_code == 200 and shown.status_code == 200
    assert "张三" in shown.content.decode()


@pytest.mark.django_db(transaction=True)
def test_racing_requests_with_one_idempotency_key_create_one_customer(clerk):
    """Two clients retrying at the same moment. On PostgreSQL the slower one hits the key's unique
    constraint and asks again; on SQLite the IMMEDIATE write lock runs them one after the other."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database is shared-cache: concurrent writers fail at once")
    import threading

    from django.db import connections
    from django.test import Client

    barrier = threading.Barrier(4)
    answers: list[tuple[int, int]] = []

    def post() -> None:
        client = Client()
        client.force_login(clerk)
        barrier.wait()
        try:
            response = send(client, "post", LIST_URL, {"name": "并发"}, Idempotency_Key="same-key")
            answers.append((response.status_code, response.json().get("id")))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _id in answers] == [201] * 4
    assert len({customer_id for _status, customer_id in answers}) == 1
    assert Customer.objects.count() == 1


def test_a_clerk_reads_tags_and_channels_but_cannot_change_them(clerk_client):
    assert clerk_client.get("/api/v1/tags/").status_code == 200
    assert clerk_client.get("/api/v1/source-channels/").status_code == 200
    assert send(clerk_client, "post", "/api/v1/tags/", {"name": "x", "color": "green"}).status_code == 403
    assert send(clerk_client, "post", "/api/v1/source-channels/", {"name": "x"}).status_code == 403
    assert not Tag.objects.exists()


def test_a_forged_cursor_with_a_huge_number_is_404_not_500(clerk_client, many_customers):
    import base64
    import json
    from urllib.parse import parse_qs, urlparse

    next_link = clerk_client.get("/api/v1/customers/?sort=owner").json()["next"]
    token = parse_qs(urlparse(next_link).query)["cursor"][0]
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    payload["v"] = [10**30 if isinstance(v, int) or v is None else v for v in payload["v"]]
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    response = clerk_client.get(f"/api/v1/customers/?sort=owner&cursor={forged}")

    assert response.status_code == 404


def test_schema_and_docs_need_a_login(client):
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code == 302
