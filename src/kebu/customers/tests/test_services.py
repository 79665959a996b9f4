"""What the customer services promise: whole input checked before anything is written, numbers
normalised, search keys and derived columns kept, duplicates warned about, versions enforced,
every change on the timeline."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from kebu.core.errors import Conflict, DuplicateWarning, Forbidden, ValidationFailed
from kebu.core.lookup import phone_last4_lookup, phone_lookup, text_lookup
from kebu.customers.models import (
    Address,
    Consent,
    Customer,
    CustomerEvent,
    CustomerPhone,
    CustomFieldType,
    SocialAccount,
)
from kebu.customers.services import (
    AddressInput,
    ConsentInput,
    CustomerInput,
    PhoneInput,
    SocialInput,
    customer_archive,
    customer_create,
    customer_input_check,
    customer_input_from,
    customer_restore,
    customer_update,
    customers_bulk_assign,
    customers_bulk_stage,
    customers_bulk_tag,
    customers_import_create,
    customers_with_contacts,
)
from kebu.customers.tests.factories import CustomFieldFactory, TagFactory, make_customer, source

pytestmark = pytest.mark.django_db


def shenzhen(**overrides) -> AddressInput:
    fields = {"province": "广东省", "city": "深圳市", "district": "南山区", "detail": "科技园路 1 号"}
    return AddressInput(**{**fields, **overrides})


def rows() -> tuple[int, int, int]:
    return Customer.objects.count(), CustomerPhone.objects.count(), Address.objects.count()


# --- create --------------------------------------------------------------------------------------------


def test_create_with_every_part_normalises_and_derives(clerk):
    vip = TagFactory(name="VIP")
    channel = source("抖音")

    customer = customer_create(
        actor=clerk,
        data=CustomerInput(
            name=" 张三 ",
            email=" Zhang.San@Example.COM ",
            birthday=date(1990, 5, 17),
            source=channel,
            tags=[vip],
            phones=[
                PhoneInput(number="+86 138-1234-5678"),
                PhoneInput(number="１３９００００１１１１", label="work"),
            ],
            addresses=[
                AddressInput(province="北京市", city="市辖区", district="东城区", detail="东四 1 号"),
                shenzhen(is_default=True, receiver_phone="0086 138 1234 5678"),
            ],
            socials=[SocialInput(kind="wechat", handle=" ZhangSan_88 ")],
            consents=[ConsentInput(channel="sms", granted=True, method="verbal", evidence="电话里说的")],
        ),
    )

    customer.refresh_from_db()
    assert customer.name == "张三"
    assert [(p.number, p.label) for p in customer.phones.all()] == [
        ("+8613812345678", "mobile"),
        ("+8613900001111", "work"),
    ]
    assert customer.primary_phone == "+8613812345678"
    phone = customer.phones.first()
    assert (phone.number_lookup, phone.last4_lookup) == (
        phone_lookup("+8613812345678"),
        phone_last4_lookup("5678"),
    )
    assert customer.email == "Zhang.San@Example.COM"
    assert customer.email_lookup == text_lookup("zhang.san@example.com")
    assert (customer.name_pinyin, customer.name_initials) == ("zhangsan", "zs")
    assert (customer.province, customer.city) == ("广东省", "深圳市")
    assert customer.addresses.get(is_default=True).receiver_phone == "+8613812345678"
    assert customer.socials.get().handle_lookup == text_lookup("zhangsan_88")
    assert customer.consents.get().recorded_by == clerk
    assert list(customer.tags.all()) == [vip]
    assert customer.source == channel
    assert customer.created_by == clerk and customer.updated_by == clerk
    assert customer.version == 1
    assert CustomerEvent.objects.filter(customer=customer, kind="customer.created", actor=clerk).count() == 1


def test_a_name_typed_with_spaces_between_its_characters_is_kept_without_them(clerk):
    data = CustomerInput(name="李 娜", phones=[PhoneInput("13800001235")])

    customer = customer_create(actor=clerk, data=data)

    customer.refresh_from_db()
    assert (customer.name, customer.name_pinyin) == ("李娜", "lina")


def test_the_first_address_is_the_default_when_none_is_marked(clerk):
    customer = customer_create(
        actor=clerk,
        data=CustomerInput(name="李四", addresses=[shenzhen(), shenzhen(city="广州市", district="天河区")]),
    )

    assert customer.addresses.get(is_default=True).city == "深圳市"
    assert customer.city == "深圳市"


def test_customer_numbers_count_up_from_c000001(clerk):
    first = make_customer(actor=clerk, name="一")
    second = make_customer(actor=clerk, name="二")

    assert (first.customer_no, second.customer_no) == ("C000001", "C000002")


def test_the_customer_number_prefix_and_width_are_settings(clerk, settings):
    settings.KEBU = {**settings.KEBU, "CUSTOMER_NO_PREFIX": "KB-", "CUSTOMER_NO_DIGITS": 4}

    assert make_customer(actor=clerk, name="一").customer_no == "KB-0001"


def test_a_number_already_taken_is_skipped(clerk):
    first = make_customer(actor=clerk, name="一")
    Customer.objects.filter(pk=first.pk).update(customer_no="C000002")

    assert make_customer(actor=clerk, name="二").customer_no == "C000003"


def test_a_phone_alone_is_enough(clerk):
    customer = customer_create(actor=clerk, data=CustomerInput(phones=[PhoneInput(number="13812345678")]))

    # Never the phone: the name shows in lists and logs read by people who may not see contact details.
    assert customer.name == "" and customer.display_name == customer.customer_no


def test_html_in_notes_is_stored_verbatim(clerk):
    notes = '<script>alert("x")</script> <b>VIP</b> &amp;\n  二楼'

    customer = make_customer(actor=clerk, name="张三", notes=notes)

    customer.refresh_from_db()
    assert customer.notes == notes


# --- refused input writes nothing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param(
            CustomerInput(name="张三", phones=[PhoneInput(number="12345")]), "phones.0.number", id="phone"
        ),
        pytest.param(
            CustomerInput(name="张三", phones=[PhoneInput(number="13812345678"), PhoneInput(number="abc")]),
            "phones.1.number",
            id="second-phone",
        ),
        pytest.param(CustomerInput(name="张三", email="zhangsan@"), "email", id="email"),
        pytest.param(
            CustomerInput(name="张三", birthday=timezone.localdate() + timedelta(days=1)),
            "birthday",
            id="future",
        ),
        pytest.param(
            CustomerInput(name="张三", birthday=date(timezone.localdate().year - 121, 1, 1)),
            "birthday",
            id="age",
        ),
        pytest.param(CustomerInput(name="  "), "name", id="no-name-no-phone"),
        pytest.param(CustomerInput(name="张" * 10 * 1024 * 1024), "name", id="10MB-name"),
        pytest.param(CustomerInput(name="张三", notes="x" * 5001), "notes", id="long-notes"),
        pytest.param(CustomerInput(name="张三", stage="boss"), "stage", id="stage"),
        pytest.param(
            CustomerInput(name="张三", addresses=[shenzhen(city="火星市")]), "addresses.0.province", id="city"
        ),
        pytest.param(  # a region alone is an address; a street alone is not
            CustomerInput(name="张三", addresses=[shenzhen(province="", city="", district="")]),
            "addresses.0.province",
            id="street-without-province",
        ),
        pytest.param(
            CustomerInput(name="张三", addresses=[shenzhen(is_default=True), shenzhen(is_default=True)]),
            "addresses",
            id="two-defaults",
        ),
        pytest.param(
            CustomerInput(name="张三", socials=[SocialInput(kind="icq", handle="x")]),
            "socials.0.kind",
            id="social",
        ),
        pytest.param(
            CustomerInput(
                name="张三", consents=[ConsentInput(channel="sms", granted=True, method="telepathy")]
            ),
            "consents.0.method",
            id="consent",
        ),
    ],
)
def test_invalid_input_raises_on_the_field_and_writes_nothing(clerk, data, field):
    before = rows()

    with pytest.raises(ValidationFailed) as caught:
        customer_create(actor=clerk, data=data)

    assert field in caught.value.field_errors
    assert rows() == before
    assert not CustomerEvent.objects.exists()


def test_every_bad_field_is_reported_at_once(clerk):
    with pytest.raises(ValidationFailed) as caught:
        customer_create(
            actor=clerk,
            data=CustomerInput(
                name="张三", email="nope", phones=[PhoneInput(number="1381234567")], stage="x"
            ),
        )

    assert {"email", "phones.0.number", "stage"} <= set(caught.value.field_errors)


def test_a_ten_digit_mobile_is_told_it_needs_eleven(clerk):
    with pytest.raises(ValidationFailed) as caught:
        customer_create(actor=clerk, data=CustomerInput(phones=[PhoneInput(number="1381234567")]))

    assert "11" in str(caught.value.field_errors["phones.0.number"][0])


def test_an_invalid_update_changes_nothing(clerk):
    customer = make_customer(actor=clerk, name="张三", phone="13812345678")

    with pytest.raises(ValidationFailed):
        customer_update(
            actor=clerk,
            customer=customer,
            data=CustomerInput(name="张三", phones=[PhoneInput(number="abc")]),
            expected_version=1,
        )

    customer.refresh_from_db()
    assert customer.version == 1
    assert [p.number for p in customer.phones.all()] == ["+8613812345678"]


# --- duplicates and idempotency ------------------------------------------------------------------------


def test_a_phone_another_customer_has_raises_a_duplicate_warning_naming_them(clerk):
    first = make_customer(actor=clerk, name="张三", phone="13812345678")

    with pytest.raises(DuplicateWarning) as caught:
        customer_create(
            actor=clerk, data=CustomerInput(name="张三丰", phones=[PhoneInput(number="+86 138 1234 5678")])
        )

    assert first.customer_no in str(caught.value.message)
    assert "张三" in str(caught.value.message)
    assert Customer.objects.count() == 1


def test_allow_duplicate_phone_creates_anyway(clerk):
    make_customer(actor=clerk, name="张三", phone="13812345678")

    customer_create(
        actor=clerk,
        data=CustomerInput(name="张三丰", phones=[PhoneInput(number="13812345678")]),
        allow_duplicate_phone=True,
    )

    assert Customer.objects.count() == 2


def test_an_archived_customer_does_not_count_as_a_duplicate(clerk):
    first = make_customer(actor=clerk, name="张三", phone="13812345678", owner=clerk)
    customer_archive(actor=clerk, customer=first)

    customer_create(actor=clerk, data=CustomerInput(name="张三丰", phones=[PhoneInput(number="13812345678")]))

    assert Customer.objects.count() == 2


def test_a_customer_keeping_their_own_phone_is_not_a_duplicate(clerk):
    customer = make_customer(actor=clerk, name="张三", phone="13812345678")

    customer_update(
        actor=clerk,
        customer=customer,
        data=CustomerInput(name="张三丰", phones=[PhoneInput(number="13812345678")]),
        expected_version=1,
    )

    customer.refresh_from_db()
    assert customer.name == "张三丰"


def test_the_same_idempotency_key_twice_creates_one_customer(clerk):
    data = CustomerInput(name="张三", phones=[PhoneInput(number="13812345678")])

    first = customer_create(actor=clerk, data=data, idempotency_key="k-1")
    second = customer_create(actor=clerk, data=data, idempotency_key="k-1")

    assert first.pk == second.pk
    assert Customer.objects.count() == 1
    assert CustomerEvent.objects.filter(kind="customer.created").count() == 1


def test_an_idempotency_key_is_per_actor(clerk, owner):
    data = CustomerInput(name="张三")

    mine = customer_create(actor=clerk, data=data, idempotency_key="k-1")
    theirs = customer_create(actor=owner, data=data, idempotency_key="k-1")

    assert mine.pk != theirs.pk


# --- update, version, events --------------------------------------------------------------------------


def test_two_updates_from_the_same_version_the_second_conflicts_and_the_first_is_kept(clerk):
    customer = make_customer(actor=clerk, name="张三")
    read_by_a = Customer.objects.get(pk=customer.pk)
    read_by_b = Customer.objects.get(pk=customer.pk)

    data_a = customer_input_from(read_by_a)
    data_a.name = "张三甲"
    customer_update(actor=clerk, customer=read_by_a, data=data_a, expected_version=1)
    data_b = customer_input_from(read_by_b)
    data_b.name = "张三乙"
    with pytest.raises(Conflict):
        customer_update(actor=clerk, customer=read_by_b, data=data_b, expected_version=1)

    customer.refresh_from_db()
    assert customer.name == "张三甲"
    assert customer.version == 2


def test_update_records_a_field_diff_on_the_timeline(clerk, owner):
    vip = TagFactory(name="VIP")
    customer = make_customer(actor=clerk, name="张三", phone="13812345678")
    data = customer_input_from(customer)
    data.name = "张三丰"
    data.stage = "vip"
    data.tags = [vip]

    customer_update(actor=owner, customer=customer, data=data, expected_version=customer.version)

    event = CustomerEvent.objects.get(customer=customer, kind="customer.updated")
    assert event.actor == owner
    changes = event.data["changes"]
    assert changes["name"] == ["张三", "张三丰"]
    assert changes["stage"] == ["lead", "vip"]
    assert changes["tags"] == ["", "VIP"]
    assert "phones" not in changes
    customer.refresh_from_db()
    assert customer.updated_by == owner
    assert (customer.name_pinyin, customer.name_initials) == ("zhangsanfeng", "zsf")


def test_an_update_that_changes_nothing_records_no_event(clerk):
    customer = make_customer(actor=clerk, name="张三", phone="13812345678")

    customer_update(actor=clerk, customer=customer, data=customer_input_from(customer), expected_version=1)

    assert not CustomerEvent.objects.filter(kind="customer.updated").exists()


def test_update_replaces_phones_addresses_and_socials(clerk):
    customer = customer_create(
        actor=clerk,
        data=CustomerInput(
            name="张三",
            phones=[PhoneInput(number="13812345678")],
            addresses=[shenzhen()],
            socials=[SocialInput(kind="qq", handle="10001")],
        ),
    )
    data = customer_input_from(customer)
    data.phones = [PhoneInput(number="13900001111")]
    data.addresses = [AddressInput(province="浙江省", city="杭州市", detail="西湖边")]
    data.socials = []

    customer_update(actor=clerk, customer=customer, data=data, expected_version=1)

    customer.refresh_from_db()
    assert [p.number for p in customer.phones.all()] == ["+8613900001111"]
    assert (customer.primary_phone, customer.province, customer.city) == (
        "+8613900001111",
        "浙江省",
        "杭州市",
    )
    assert not SocialAccount.objects.filter(customer=customer).exists()


def test_a_consent_change_of_mind_moves_its_row(clerk):
    customer = customer_create(
        actor=clerk,
        data=CustomerInput(
            name="张三", consents=[ConsentInput(channel="sms", granted=True, method="verbal")]
        ),
    )
    data = customer_input_from(customer)
    data.consents = [ConsentInput(channel="sms", granted=False, method="chat")]

    customer_update(actor=clerk, customer=customer, data=data, expected_version=1)

    consent = Consent.objects.get(customer=customer)
    assert (consent.granted, consent.method) == (False, "chat")


def test_archive_and_restore_move_the_customer_and_write_events(clerk):
    customer = make_customer(actor=clerk, name="张三", owner=clerk)

    archived = customer_archive(actor=clerk, customer=customer)
    assert archived.archived_at is not None
    assert not Customer.objects.active().filter(pk=customer.pk).exists()
    restored = customer_restore(actor=clerk, customer=customer)

    assert restored.archived_at is None
    assert restored.version == 3
    kinds = list(
        CustomerEvent.objects.filter(customer=customer).order_by("id").values_list("kind", flat=True)
    )
    assert kinds == ["customer.created", "customer.archived", "customer.restored"]


def test_archiving_twice_writes_one_event(clerk):
    customer = make_customer(actor=clerk, name="张三", owner=clerk)

    customer_archive(actor=clerk, customer=customer)
    customer_archive(actor=clerk, customer=customer)

    assert CustomerEvent.objects.filter(kind="customer.archived").count() == 1


# --- bulk actions --------------------------------------------------------------------------------------


def test_bulk_tag_adds_and_removes_and_writes_events(clerk):
    vip = TagFactory(name="VIP")
    a = make_customer(actor=clerk, name="甲")
    b = make_customer(actor=clerk, name="乙", tags=[vip])

    added = customers_bulk_tag(actor=clerk, customers=[a, b], tags=[vip])
    removed = customers_bulk_tag(actor=clerk, customers=[a, b], tags=[vip], remove=True)

    assert (added, removed) == (1, 2)
    assert not vip.customers.exists()
    events = CustomerEvent.objects.filter(kind="customer.updated").order_by("id")
    assert [(e.customer_id, e.data["changes"]["tags"]) for e in events] == [
        (a.pk, ["", "VIP"]),
        (a.pk, ["VIP", ""]),
        (b.pk, ["VIP", ""]),
    ]


def test_bulk_assign_sets_the_owner_and_writes_events(clerk, owner):
    a = make_customer(actor=clerk, name="甲")
    b = make_customer(actor=clerk, name="乙", owner=owner)

    changed = customers_bulk_assign(actor=owner, customers=[a, b], owner=owner)

    assert changed == 1
    assert set(Customer.objects.values_list("owner", flat=True)) == {owner.pk}
    event = CustomerEvent.objects.get(kind="customer.transferred")
    assert event.customer_id == a.pk and event.actor == owner
    assert event.data == {"from": None, "to": {"id": owner.pk, "name": str(owner)}, "reason": ""}


def test_bulk_assign_needs_the_assign_permission(clerk, owner):
    a = make_customer(actor=clerk, name="甲")

    with pytest.raises(Forbidden):
        customers_bulk_assign(actor=clerk, customers=[a], owner=clerk)

    a.refresh_from_db()
    assert a.owner is None and not CustomerEvent.objects.filter(kind="customer.transferred").exists()


def test_bulk_stage_sets_the_stage_and_writes_events(clerk):
    a = make_customer(actor=clerk, name="甲")
    b = make_customer(actor=clerk, name="乙", stage="vip")

    changed = customers_bulk_stage(actor=clerk, customers=[a, b], stage="vip")

    assert changed == 1
    assert set(Customer.objects.values_list("stage", flat=True)) == {"vip"}
    assert CustomerEvent.objects.get(kind="customer.updated").data["changes"]["stage"] == ["lead", "vip"]


def test_bulk_stage_refuses_an_unknown_stage(clerk):
    a = make_customer(actor=clerk, name="甲")

    with pytest.raises(ValidationFailed):
        customers_bulk_stage(actor=clerk, customers=[a], stage="boss")

    a.refresh_from_db()
    assert a.stage == "lead"


# --- custom fields -------------------------------------------------------------------------------------


def _create_with_custom(actor, custom):
    return customer_create(actor=actor, data=CustomerInput(name="张三", custom=custom))


@pytest.mark.parametrize(
    ("field_type", "choices", "given", "stored"),
    [
        (CustomFieldType.TEXT, [], "  爱喝茶 ", "爱喝茶"),
        (CustomFieldType.NUMBER, [], "1,234", 1234),
        (CustomFieldType.NUMBER, [], "12.5", 12.5),
        (CustomFieldType.NUMBER, [], 7, 7),
        (CustomFieldType.DATE, [], "2024-02-29", "2024-02-29"),
        (CustomFieldType.DATE, [], date(2024, 3, 1), "2024-03-01"),
        (CustomFieldType.CHOICE, ["S", "M", "L"], "M", "M"),
        (CustomFieldType.MULTI, ["茶", "咖啡", "酒"], ["茶", "酒"], ["茶", "酒"]),
        (CustomFieldType.MULTI, ["茶", "咖啡", "酒"], "茶", ["茶"]),
        (CustomFieldType.BOOL, [], True, True),
        (CustomFieldType.BOOL, [], "是", True),
        (CustomFieldType.BOOL, [], "no", False),
    ],
)
def test_custom_values_are_cleaned_by_type(clerk, field_type, choices, given, stored):
    CustomFieldFactory(key="f", field_type=field_type, choices=choices)

    customer = _create_with_custom(clerk, {"f": given})

    customer.refresh_from_db()
    assert customer.custom == {"f": stored}


@pytest.mark.parametrize(
    ("field_type", "choices", "given"),
    [
        (CustomFieldType.TEXT, [], "x" * 501),
        (CustomFieldType.NUMBER, [], "twelve"),
        (CustomFieldType.NUMBER, [], "NaN"),
        (CustomFieldType.NUMBER, [], "1e1000000000"),
        (CustomFieldType.DATE, [], "2023-02-29"),
        (CustomFieldType.CHOICE, ["S", "M", "L"], "XL"),
        (CustomFieldType.MULTI, ["茶", "咖啡"], ["茶", "可乐"]),
        (CustomFieldType.BOOL, [], "maybe"),
    ],
)
def test_a_wrong_custom_value_is_refused_on_its_key(clerk, field_type, choices, given):
    CustomFieldFactory(key="f", field_type=field_type, choices=choices)

    with pytest.raises(ValidationFailed) as caught:
        _create_with_custom(clerk, {"f": given})

    assert "custom.f" in caught.value.field_errors
    assert not Customer.objects.exists()


@pytest.mark.parametrize(
    ("field_type", "given", "named"), [("choice", "中性", "中性"), ("multi", ["油性", "中性"], "中性")]
)
def test_a_value_not_among_a_custom_fields_choices_is_told_what_there_is_to_choose(
    clerk, field_type, given, named
):
    CustomFieldFactory(key="skin", label="肤质", field_type=field_type, choices=["干性", "油性", "混合"])

    with pytest.raises(ValidationFailed) as caught:
        _create_with_custom(clerk, {"skin": given})

    [message] = caught.value.field_errors["custom.skin"]
    assert f"“{named}”" in str(message) and "干性、油性、混合" in str(message)


@pytest.mark.parametrize("empty", [None, "", []])
def test_a_required_custom_field_must_be_given(clerk, empty):
    CustomFieldFactory(key="size", field_type=CustomFieldType.CHOICE, choices=["S"], required=True)

    with pytest.raises(ValidationFailed) as caught:
        _create_with_custom(clerk, {"size": empty})

    assert "custom.size" in caught.value.field_errors


def test_unknown_and_inactive_custom_keys_are_dropped(clerk):
    CustomFieldFactory(key="old", field_type=CustomFieldType.TEXT, is_active=False)

    customer = _create_with_custom(clerk, {"old": "x", "never_defined": "y"})

    assert customer.custom == {}


def test_a_municipality_is_its_own_city_for_filtering(clerk):
    data = CustomerInput(
        name="北京客户",
        addresses=[AddressInput(province="北京市", city="市辖区", district="朝阳区", detail="建国路 1 号")],
    )
    customer = customer_create(actor=clerk, data=data)
    assert (customer.province, customer.city) == ("北京市", "北京市")
    assert customer.addresses.get().city == "市辖区"  # the address itself keeps the official levels


def test_bulk_actions_leave_untouched_customers_at_their_version(clerk):
    tag = TagFactory(name="茶友")
    tagged = make_customer(actor=clerk, name="甲")
    tagged.tags.add(tag)
    untagged = make_customer(actor=clerk, name="乙")
    customers_bulk_tag(actor=clerk, customers=[tagged, untagged], tags=[tag])
    tagged.refresh_from_db()
    untagged.refresh_from_db()
    assert tagged.version == 1
    assert untagged.version == 2
    assert list(untagged.tags.all()) == [tag]


def test_a_too_long_social_type_name_is_a_field_error_not_a_database_error(clerk):
    data = CustomerInput(name="丙", socials=[SocialInput(kind="other", handle="x", kind_label="长" * 31)])
    with pytest.raises(ValidationFailed) as caught:
        customer_create(actor=clerk, data=data)
    assert "socials.0.kind_label" in caught.value.field_errors


def test_a_shared_phone_confirmed_once_does_not_block_later_saves(clerk):
    make_customer(actor=clerk, name="甲", phone="13812345678")
    second = customer_create(
        actor=clerk,
        data=CustomerInput(name="乙", phones=[PhoneInput(number="13812345678")]),
        allow_duplicate_phone=True,
    )
    data = customer_input_from(second)
    data.stage = "vip"
    updated = customer_update(actor=clerk, customer=second, data=data, expected_version=second.version)
    assert updated.stage == "vip"
    # but adding another customer's number is still a warning
    make_customer(actor=clerk, name="丙", phone="13900000000")
    data = customer_input_from(updated)
    data.phones = [*data.phones, PhoneInput(number="13900000000")]
    with pytest.raises(DuplicateWarning):
        customer_update(actor=clerk, customer=updated, data=data, expected_version=updated.version)


def test_a_deactivated_custom_fields_values_survive_later_saves(clerk):
    field = CustomFieldFactory(key="skin", label="肤质")
    customer = make_customer(actor=clerk, name="丁", custom={"skin": "油性"})
    field.is_active = False
    field.save()
    data = customer_input_from(customer)
    data.stage = "vip"
    customer = customer_update(actor=clerk, customer=customer, data=data, expected_version=customer.version)
    assert customer.custom == {"skin": "油性"}


def test_reusing_a_form_key_for_a_different_customer_is_refused_not_swallowed(clerk):
    first = customer_create(actor=clerk, data=CustomerInput(name="戊"), idempotency_key="k")
    again = customer_create(actor=clerk, data=CustomerInput(name="戊"), idempotency_key="k")
    assert again.pk == first.pk
    with pytest.raises(Conflict):
        customer_create(actor=clerk, data=CustomerInput(name="己"), idempotency_key="k")
    assert not Customer.objects.filter(name="己").exists()


def test_an_imported_customer_is_stored_as_the_form_stores_one(owner):
    """The import writes values where the form saves model instances: the same input must give the same
    rows, and the customers it hands back must be what reading them back gives."""
    CustomFieldFactory(key="vip", label="会员等级")
    data = CustomerInput(
        name=" 张三丰 ",
        gender="m",
        birthday=date(1990, 1, 2),
        email=" ZS@Example.com ",
        customer_type="wholesaler",
        stage="new",
        source=source(),
        owner=owner,
        notes="老客户",
        custom={"vip": "金卡"},
        tags=[TagFactory(name="需回访")],
        phones=[PhoneInput(number="138 1234 5678"), PhoneInput(number="+86 139-0000-1111", label="work")],
        addresses=[
            AddressInput(
                province="浙江省",
                city="杭州市",
                district="西湖区",
                detail=" 文三路1号 ",
                receiver=" 张三丰 ",
                receiver_phone="13812345678",
                is_default=True,
            )
        ],
        socials=[
            SocialInput(kind="wechat", handle=" zs_wx "),
            SocialInput(kind="other", handle="zs", kind_label=" 快手 "),
        ],
    )
    by_form = customer_create(actor=owner, data=data, allow_duplicate_phone=True)
    [by_import] = customers_import_create(
        actor=owner, rows=[(customer_input_check(data=data), "")], import_id=7
    ).customers()

    def columns(customer: Customer) -> dict:
        skip = {"id", "customer_no", "created_at", "updated_at"}
        return {
            f.attname: getattr(customer, f.attname)
            for f in Customer._meta.concrete_fields
            if f.name not in skip
        }

    stored = Customer.objects.get(pk=by_import.pk)
    assert columns(by_import) == columns(stored) == columns(Customer.objects.get(pk=by_form.pk))
    assert (by_import.customer_no, by_import.created_at) == (stored.customer_no, stored.created_at)
    assert (stored.name, stored.name_pinyin, stored.city, stored.custom) == (
        "张三丰",
        "zhangsanfeng",
        "杭州市",
        {"vip": "金卡"},
    )

    def rows(customer: Customer) -> tuple:
        return (
            [
                (p.number, p.label, p.number_lookup, p.last4_lookup, p.position)
                for p in customer.phones.order_by("pk")
            ],
            [
                (a.province, a.city, a.district, a.detail, a.receiver, a.receiver_phone, a.is_default)
                for a in customer.addresses.order_by("pk")
            ],
            [(s.kind, s.kind_label, s.handle, s.handle_lookup) for s in customer.socials.order_by("pk")],
            [t.name for t in customer.tags.all()],
        )

    assert rows(stored) == rows(by_form)
    assert rows(stored)[1][0][3:6] == ("文三路1号", "张三丰", "+8613812345678")


def _family(owner, count: int) -> list[CustomerInput]:
    """``count`` customers alike but for their names, phones and accounts, with two tags, a source, an
    owner, a referrer, two addresses and two accounts each."""
    referrer = make_customer(actor=owner, name="介绍人")
    tags, taobao = [TagFactory(name="老客"), TagFactory(name="VIP")], source()
    return [
        CustomerInput(
            name=f"客户{i}",
            source=taobao,
            owner=owner,
            referrer=referrer,
            tags=tags,
            phones=[PhoneInput(number=f"1380013800{i}"), PhoneInput(number=f"1390013900{i}")],
            addresses=[shenzhen(is_default=True), shenzhen(detail=f"科技园{i}栋")],
            socials=[SocialInput(kind="wechat", handle=f"wx_{i}"), SocialInput(kind="qq", handle=f"1000{i}")],
        )
        for i in range(count)
    ]


def _contacts(customer: Customer, *, stored: bool) -> tuple:
    def rows(relation: str) -> list:
        return getattr(customer, f"stored_{relation}") if stored else list(getattr(customer, relation).all())

    return (
        customer.source,
        customer.owner,
        customer.referrer,
        [(p.number, p.position) for p in rows("phones")],
        [(a.detail, a.is_default) for a in rows("addresses")],
        [(s.kind, s.handle) for s in rows("socials")],
        [t.name for t in rows("tags")],
    )


def test_customers_imported_together_each_get_their_own_rows(owner):
    inputs = _family(owner, 3)

    made = customers_import_create(
        actor=owner, rows=[(customer_input_check(data=data), "") for data in inputs], import_id=7
    )
    assert made.ids == [c.pk for c in made.customers()]
    assert made.numbers == [c.customer_no for c in made.customers()]
    made = made.customers()

    for customer, data in zip(made, inputs, strict=True):
        stored = Customer.objects.get(pk=customer.pk)
        assert (stored.name, stored.primary_phone) == (data.name, "+86" + data.phones[0].number)
        assert _contacts(stored, stored=False) == (
            data.source,
            owner,
            data.referrer,
            [("+86" + p.number, i) for i, p in enumerate(data.phones)],
            [(a.detail, a.is_default) for a in data.addresses],
            sorted((s.kind, s.handle) for s in data.socials),  # SocialAccount's ordering: by kind
            ["VIP", "老客"],
        )
    assert len({id(c.custom) for c in made}) == 3  # each its own, though all are empty
    assert CustomerEvent.objects.filter(customer__in=made, data={"import": 7}).count() == 3


def test_a_batch_loaded_for_merging_holds_what_each_customer_has(owner, django_assert_max_num_queries):
    made = [customer_create(actor=owner, data=data) for data in _family(owner, 3)]

    with django_assert_max_num_queries(9):
        loaded = customers_with_contacts([c.pk for c in made] + [999_999])

    assert sorted(loaded) == sorted(c.pk for c in made)
    for customer in made:
        with django_assert_max_num_queries(0):
            held = _contacts(loaded[customer.pk], stored=True)
        assert held == _contacts(Customer.objects.get(pk=customer.pk), stored=False)


def test_a_retired_choice_stays_only_with_the_customers_who_already_had_it(clerk):
    from kebu.customers.models import CustomField

    skin = CustomField.objects.create(
        key="skin", label="肤质", field_type=CustomFieldType.MULTI, choices=["干性", "油性", "敏感"]
    )
    had_it = make_customer(actor=clerk, name="王芳", custom={"skin": ["油性", "敏感"]})
    never_had = make_customer(actor=clerk, name="李娜")
    skin.choices = ["干性", "油皮", "敏感"]
    skin.save()

    kept = customer_update(
        actor=clerk,
        customer=had_it,
        data=CustomerInput(name="王芳芳", custom={"skin": ["油性", "敏感"]}),
        expected_version=had_it.version,
    )
    assert kept.custom["skin"] == ["油性", "敏感"]

    with pytest.raises(ValidationFailed) as refused:
        customer_update(
            actor=clerk,
            customer=never_had,
            data=CustomerInput(name="李娜", custom={"skin": ["油性"]}),
            expected_version=never_had.version,
        )
    assert "custom.skin" in refused.value.field_errors
