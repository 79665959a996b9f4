"""Contact details: in full for those allowed to see them, masked for everyone else in every answer
(markup, attributes, JSON, CSV), and revealed one at a time, audited, for those allowed to reveal."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from kebu.core.masking import is_masked, mask, mask_phone
from kebu.customers.privacy import ContactPolicy, contact_policy
from kebu.customers.services import (
    AddressInput,
    ConsentInput,
    CustomerInput,
    PhoneInput,
    SocialInput,
    customer_create,
    customer_input_from,
    customer_update,
)
from kebu.transfer.exports import safe_cell

pytestmark = pytest.mark.django_db

PHONE = "13812345678"
EMAIL = "zhangsan.secret@qq.com"
STREET = "科技园南路 88 号"
WECHAT = "zs_private_wx"
NOTES = "住在公司宿舍，晚上八点后方便"
EVIDENCE = "微信聊天记录 2024-05-01"
# Every way the phone could be written out, and each other contact detail.
SECRETS = [
    PHONE,
    "86" + PHONE,
    "+86" + PHONE,
    "138 1234 5678",
    "138-1234-5678",
    EMAIL,
    STREET,
    WECHAT,
    NOTES,
    EVIDENCE,
]


@pytest.fixture
def customer(clerk):
    """张三, a pool customer, with every kind of contact detail; then a phone change on the timeline."""
    created = customer_create(
        actor=clerk,
        data=CustomerInput(
            name="张三",
            email=EMAIL,
            notes=NOTES,
            phones=[PhoneInput(number="13900001111")],
            addresses=[
                AddressInput(
                    province="广东省",
                    city="深圳市",
                    district="南山区",
                    detail=STREET,
                    receiver="张三",
                    receiver_phone=PHONE,
                )
            ],
            socials=[SocialInput(kind="wechat", handle=WECHAT)],
            consents=[ConsentInput(channel="sms", granted=True, method="chat", evidence=EVIDENCE)],
        ),
    )
    # The timeline keeps the change of phone as before/after text: it must be masked too.
    data = customer_input_from(created)
    data.phones = [PhoneInput(number=PHONE)]
    return customer_update(actor=clerk, customer=created, data=data, expected_version=created.version)


def _everything_shown_to(client, customer) -> dict[str, str]:
    """Every answer that shows the customer: pages, fragments, JSON."""
    list_url = reverse("customers:list") + "?cols=customer_no,name,phone,email,owner"
    return {
        "list": client.get(list_url).content.decode(),
        "search": client.get(list_url + "&q=5678", HTTP_HX_REQUEST="true").content.decode(),
        "detail": client.get(reverse("customers:detail", args=[customer.pk])).content.decode(),
        "api list": client.get("/api/v1/customers/").content.decode(),
        "api detail": client.get(f"/api/v1/customers/{customer.pk}/").content.decode(),
        "api browsable": client.get(
            f"/api/v1/customers/{customer.pk}/", HTTP_ACCEPT="text/html"
        ).content.decode(),
    }


@pytest.mark.parametrize("role", ["analyst", "readonly"])
def test_masked_roles_never_receive_a_contact_detail_anywhere(client_for, staff_member, customer, role):
    viewer = staff_member(role, f"viewer_{role}")

    answers = _everything_shown_to(client_for(viewer), customer)

    for where, body in answers.items():
        assert "张三" in body, where  # the customer is there…
        for secret in SECRETS:
            assert secret not in body, (where, secret)  # …its contact details are not
    assert "138****5678" in answers["detail"] and "138****5678" in answers["api detail"]
    assert "z***@qq.com" in answers["list"]


def test_a_clerk_with_the_permission_sees_contact_details_in_full(clerk_client, customer):
    answers = _everything_shown_to(clerk_client, customer)

    assert "138 1234 5678" in answers["detail"] and EMAIL in answers["detail"]
    assert STREET in answers["detail"] and WECHAT in answers["detail"] and NOTES in answers["detail"]
    body = json.loads(answers["api detail"])
    assert body["primary_phone"] == "+86" + PHONE and body["email"] == EMAIL and body["notes"] == NOTES
    assert body["addresses"][0]["receiver_phone"] == "+86" + PHONE
    profile = answers["detail"][
        answers["detail"].index('id="phones"') : answers["detail"].index('id="timeline"')
    ]
    assert "****" not in profile


def test_the_api_masks_each_kind_of_detail(client_for, analyst, customer):
    body = client_for(analyst).get(f"/api/v1/customers/{customer.pk}/").json()

    assert body["primary_phone"] == "138****5678"
    assert body["email"] == "z***@qq.com"
    assert body["notes"] == "****"
    assert body["phones"][0]["number"] == "138****5678"
    assert (
        body["addresses"][0]["detail"] == "****" and body["addresses"][0]["receiver_phone"] == "138****5678"
    )
    assert body["addresses"][0]["province"] == "广东省"  # the region stays visible beside the masked street
    assert body["socials"][0]["handle"] == "z***x"
    assert body["consents"][0]["evidence"] == "****"


@pytest.mark.parametrize("role", ["analyst", "readonly"])
def test_masked_roles_cannot_open_the_edit_form_or_change_a_customer(
    client_for, staff_member, customer, role
):
    client = client_for(staff_member(role, f"viewer_{role}"))

    assert client.get(reverse("customers:edit", args=[customer.pk])).status_code == 403
    assert client.post(reverse("customers:archive", args=[customer.pk])).status_code == 403
    patch = client.patch(
        f"/api/v1/customers/{customer.pk}/",
        data=json.dumps({"stage": "vip", "version": 2}),
        content_type="application/json",
    )
    assert patch.status_code == 403
    customer.refresh_from_db()
    assert customer.stage == "lead" and customer.archived_at is None


def test_a_page_for_a_masked_role_offers_no_edit_and_no_bulk_actions(client_for, analyst, customer):
    client = client_for(analyst)

    detail = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    listing = client.get(reverse("customers:list")).content.decode()

    assert 'id="edit-customer"' not in detail and "contact-reveal" not in detail
    assert 'name="action"' not in listing and 'name="ids"' not in listing


# --- revealing ------------------------------------------------------------------------------------------


def test_reveal_shows_one_detail_and_is_audited(client_for, readonly, customer):
    from kebu.audit.models import AuditEntry

    client = client_for(readonly)
    detail = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    phone = customer.phones.get()

    response = client.post(
        reverse("customers:reveal", args=[customer.pk]), {"field": "phone", "item": phone.pk}
    )

    assert "contact-reveal" in detail  # the button is offered…
    assert PHONE not in detail  # …without the value in it
    assert response.status_code == 200
    assert "138 1234 5678" in response.content.decode()
    assert EMAIL not in response.content.decode()
    entry = AuditEntry.objects.get(action="customer.reveal")
    assert entry.actor == readonly and entry.target_id == str(customer.pk)
    assert entry.data == {"field": "phone", "item": str(phone.pk)}
    assert PHONE not in json.dumps(entry.data)  # the log records what was revealed, not the value


@pytest.mark.parametrize(
    ("field", "item", "expected"),
    [
        ("email", "", EMAIL),
        ("notes", "", "晚上八点后方便"),
        ("address", "address", STREET),
        ("social", "social", WECHAT),
    ],
)
def test_each_kind_of_detail_can_be_revealed(client_for, readonly, customer, field, item, expected):
    item_id = {"": "", "address": customer.addresses.get().pk, "social": customer.socials.get().pk}[item]

    response = client_for(readonly).post(
        reverse("customers:reveal", args=[customer.pk]), {"field": field, "item": item_id}
    )

    assert response.status_code == 200 and expected in response.content.decode()


def test_reveal_needs_its_permission(client_for, analyst, customer):
    from kebu.audit.models import AuditEntry

    response = client_for(analyst).post(reverse("customers:reveal", args=[customer.pk]), {"field": "email"})

    assert response.status_code == 403
    assert EMAIL not in response.content.decode()
    assert not AuditEntry.objects.filter(action="customer.reveal").exists()


def test_reveal_of_another_customers_row_or_an_unknown_field_is_404(client_for, clerk, readonly, customer):
    other = customer_create(
        actor=clerk, data=CustomerInput(name="李四", phones=[PhoneInput(number="13700001111")])
    )
    client = client_for(readonly)
    url = reverse("customers:reveal", args=[customer.pk])

    assert client.post(url, {"field": "phone", "item": other.phones.get().pk}).status_code == 404
    assert client.post(url, {"field": "password", "item": ""}).status_code == 404
    assert client.post(url, {"field": "phone", "item": "x"}).status_code == 404


# --- export ---------------------------------------------------------------------------------------------


def _csv(response) -> tuple[str, list[list[str]]]:
    raw = b"".join(response.streaming_content)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel opens the Chinese right
    text = raw.decode("utf-8-sig")
    return text, list(csv.reader(io.StringIO(text)))


def test_export_needs_its_permission(clerk_client, analyst, client_for):
    assert clerk_client.get(reverse("customers:export")).status_code == 403
    assert client_for(analyst).get(reverse("customers:export")).status_code == 403


def test_a_manager_exports_the_filtered_list_in_full_and_it_is_audited(
    client_for, manager_east, clerk, customer
):
    from kebu.audit.models import AuditEntry

    customer_create(actor=clerk, data=CustomerInput(name="李四", stage="vip"))

    response = client_for(manager_east).get(reverse("customers:export"), {"stage": "lead"})
    text, rows = _csv(response)

    assert response["Content-Type"].startswith("text/csv")
    assert [r[1] for r in rows[1:]] == ["张三"]
    assert "138 1234 5678" in text and EMAIL in text
    entry = AuditEntry.objects.get(action="customer.export")
    assert entry.actor == manager_east and entry.data["rows"] == 1 and entry.data["masked"] is False


def test_an_export_for_someone_who_may_not_see_contacts_is_masked(client_for, analyst, customer):
    # An admin may give the analyst role the export permission; contact details stay masked in it.
    analyst.groups.get().permissions.add(Permission.objects.get(codename="export_customer"))

    text, rows = _csv(client_for(analyst).get(reverse("customers:export")))

    assert rows[1][0] == customer.customer_no and "138****5678" in text and "z***@qq.com" in text
    for secret in SECRETS:
        assert secret not in text, secret


def test_an_exported_cell_cannot_run_as_a_formula(client_for, manager_east, clerk):
    customer_create(actor=clerk, data=CustomerInput(name='=HYPERLINK("http://evil","点我")'))

    _text, rows = _csv(client_for(manager_east).get(reverse("customers:export")))

    assert rows[1][1] == '\'=HYPERLINK("http://evil","点我")'


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("  =cmd|' /C calc'!A0", "'  =cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("\t=1", "'\t=1"),
        ("+86 138 1234 5678", "+86 138 1234 5678"),
        ("-12.50", "-12.50"),
        ("张三", "张三"),
        ("", ""),
    ],
)
def test_safe_cell(value, safe):
    assert safe_cell(value) == safe


# --- the policy -----------------------------------------------------------------------------------------


def test_the_policy_reads_permissions_not_role_names(clerk, analyst, readonly, owner):
    assert contact_policy(clerk) == ContactPolicy(can_see=True, can_reveal=True)
    assert contact_policy(analyst) == ContactPolicy(can_see=False, can_reveal=False)
    assert contact_policy(readonly) == ContactPolicy(can_see=False, can_reveal=True)
    assert contact_policy(owner) == ContactPolicy(can_see=True, can_reveal=True)
    assert contact_policy(None) == ContactPolicy(can_see=False, can_reveal=False)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_a_masked_mobile_never_shows_its_middle_digits(number):
    policy = ContactPolicy(can_see=False, can_reveal=False)

    shown = policy.show("phone", "+86" + number)

    assert shown == mask_phone("+86" + number) == f"{number[:3]}****{number[-4:]}"
    assert number not in shown and number[3:7] not in shown[:7]


@given(
    kind=st.sampled_from(["phone", "email", "social", "address", "text"]),
    value=st.one_of(
        st.from_regex(r"\+861[3-9][0-9]{9}", fullmatch=True),
        st.emails(),
        st.text(min_size=1, max_size=30),
    ),
)
def test_a_masked_value_is_known_for_one_so_that_an_import_never_takes_it(kind, value):
    masked = mask(kind, value)
    assert not masked or is_masked(kind, masked)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("phone", "138 1234 5678"),
        ("phone", "+8613812345678"),
        ("email", "zhang.san@qq.com"),
        ("social", "wxid_xiaoming"),
        ("social", "123456789"),
        ("address", "文三路 100 号"),
        ("text", "喜欢乌龙茶 *不加糖*"),
        ("text", ""),
    ],
)
def test_a_real_contact_detail_is_not_taken_for_a_masked_one(kind, value):
    assert not is_masked(kind, value)


@pytest.mark.parametrize("role", ["analyst", "readonly"])
def test_a_masked_role_cannot_unmask_by_searching_full_values(client_for, staff_member, customer, role):
    """Searching a guessed full number would confirm the 4 hidden digits, 10,000 guesses at most."""
    client = client_for(staff_member(role, f"searcher_{role}"))
    for query in (PHONE, "+86 " + PHONE, EMAIL, WECHAT):
        assert client.get("/api/v1/customers/", {"q": query}).json()["results"] == [], query
    found = client.get("/api/v1/customers/", {"q": PHONE[-4:]}).json()["results"]
    assert [row["id"] for row in found] == [customer.pk]  # the last 4 are shown anyway


def test_a_clerk_who_sees_contacts_still_finds_by_full_values(clerk_client, customer):
    for query in (PHONE, EMAIL, WECHAT):
        found = clerk_client.get("/api/v1/customers/", {"q": query}).json()["results"]
        assert [row["id"] for row in found] == [customer.pk], query


def test_the_phone_check_ignores_a_customer_id_the_user_cannot_see(client_for, sales_a, sales_b, owner):
    from kebu.customers.tests.factories import make_customer

    hidden = make_customer(actor=owner, phone="13700001234", owner=sales_b)
    answer = (
        client_for(sales_a)
        .get(reverse("customers:check-phone"), {"number": "13700001234", "customer": hidden.pk})
        .content.decode()
    )
    assert "phone-owner-hidden" in answer


def test_the_timeline_names_a_referrer_by_number_only(client_for, sales_a, owner, pool_off):
    from kebu.customers.tests.factories import make_customer

    secret = make_customer(actor=owner, name="秘密乙")
    mine = make_customer(actor=owner, name="客户甲", owner=sales_a)
    data = customer_input_from(mine)
    data.referrer = secret
    customer_update(actor=owner, customer=mine, data=data, expected_version=mine.version)

    page = client_for(sales_a).get(reverse("customers:detail", args=[mine.pk])).content.decode()
    assert "秘密乙" not in page and secret.customer_no in page
