from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kebu.audit.models import AuditEntry
from kebu.audit.services import audit_verify
from kebu.audit.tests.factories import record

pytestmark = pytest.mark.django_db

LIST_URL = "/audit/"
EXPORT_URL = "/audit/export.csv"


def shown(response) -> list[int]:
    return [entry.seq for entry in response.context["page"].object_list]


def read_csv(response) -> tuple[str, list[list[str]]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return body, list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def test_a_clerk_without_the_permission_is_refused(clerk_client):
    assert clerk_client.get(LIST_URL).status_code == 403
    assert clerk_client.get(EXPORT_URL).status_code == 403
    assert not AuditEntry.objects.filter(action="audit.export").exists()


def test_an_anonymous_visitor_is_sent_to_log_in():
    response = Client().get(LIST_URL)

    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_a_clerk_given_the_permission_may_read_it_after_the_second_step(clerk_client, clerk):
    from kebu.accounts.tests.otp_helpers import login_verified

    clerk.user_permissions.add(Permission.objects.get(codename="view_auditentry"))

    # Whoever may read the audit log is an admin in all but name: two-step verification first.
    assert "/account/2fa/setup/" in clerk_client.get(LIST_URL)["Location"]
    login_verified(clerk_client, clerk)
    assert clerk_client.get(LIST_URL).status_code == 200


def test_the_menu_shows_the_audit_log_only_to_those_who_may_read_it(owner_client, clerk_client):
    assert reverse("audit:list") in owner_client.get(reverse("customers:list")).content.decode()
    assert reverse("audit:list") not in clerk_client.get(reverse("customers:list")).content.decode()


def test_the_log_is_listed_newest_first_with_labels_and_changes(owner_client, owner):
    first = record("customer.update", owner, target_type="x.y", changes={"stage": ["lead", "vip"]})
    second = record("keys.rotate", None, data={"rows": 12})

    response = owner_client.get(LIST_URL)
    page = response.content.decode()

    assert response.status_code == 200
    assert shown(response)[:2] == [second.seq, first.seq]
    assert "Encryption keys rotated" in page or "keys.rotate" in page
    assert "lead → vip" in page


def test_a_customer_target_links_to_the_customer(owner_client, owner):
    from kebu.customers.tests.factories import make_customer

    customer = make_customer(actor=owner, name="张三")
    record("customer.reveal", owner, target=customer)

    page = owner_client.get(LIST_URL, {"action": "customer.reveal"}).content.decode()

    assert reverse("customers:detail", args=[customer.pk]) in page
    assert customer.customer_no in page


def test_filters_narrow_the_log(owner_client, owner, clerk):
    a = record("customer.update", owner, target_type="customers.customer", target_id="7", ip="198.51.100.1")
    b = record("customer.update", clerk, target_type="customers.customer", target_id="8", ip="198.51.100.2")
    c = record("customer.archive", clerk, target_type="customers.customer", target_id="7", ip="198.51.100.2")

    assert shown(owner_client.get(LIST_URL, {"action": "customer.update", "actor": clerk.pk})) == [b.seq]
    assert shown(owner_client.get(LIST_URL, {"target_type": "customers.customer", "target": "7"})) == [
        c.seq,
        a.seq,
    ]
    assert shown(owner_client.get(LIST_URL, {"ip": "198.51.100.2"})) == [c.seq, b.seq]


def test_a_customer_number_finds_that_customers_entries(owner_client, owner):
    from kebu.customers.tests.factories import make_customer

    customer = make_customer(actor=owner, name="李四")
    created = AuditEntry.objects.get(action="customer.create", target_id=str(customer.pk))
    mine = record("customer.reveal", owner, target=customer)
    record("customer.reveal", owner, target_type="customers.customer", target_id=str(customer.pk + 1))

    found = shown(owner_client.get(LIST_URL, {"target": customer.customer_no.lower()}))
    assert found == [mine.seq, created.seq]


def test_dates_are_days_in_the_shops_time_zone(owner_client):
    tz = timezone.get_default_timezone()
    with time_machine.travel(datetime(2025, 3, 1, 23, 30, tzinfo=tz), tick=False):
        late = record()
    with time_machine.travel(datetime(2025, 3, 2, 0, 30, tzinfo=tz), tick=False):
        next_day = record()

    assert shown(owner_client.get(LIST_URL, {"date_from": "2025-03-01", "date_to": "2025-03-01"})) == [
        late.seq
    ]
    assert shown(owner_client.get(LIST_URL, {"date_from": "2025-03-02", "date_to": "2025-03-02"})) == [
        next_day.seq
    ]


def test_an_invalid_filter_shows_nothing_rather_than_everything(owner_client):
    record()

    response = owner_client.get(LIST_URL, {"ip": "not-an-address"})

    assert response.status_code == 400 and shown(response) == []


def test_the_page_takes_a_fixed_number_of_queries(owner_client, owner, django_assert_max_num_queries):
    for i in range(60):
        record(
            "customer.update",
            owner,
            target_type="customers.customer",
            target_id=str(i),
            changes={"a": [1, 2]},
        )

    with django_assert_max_num_queries(12):
        response = owner_client.get(LIST_URL, {"page": 2})

    assert response.status_code == 200 and len(shown(response)) > 0


def test_a_page_of_exports_names_their_filters_in_a_fixed_number_of_queries(
    owner_client, owner, staff_member, django_assert_max_num_queries
):
    from kebu.customers.tests.factories import TagFactory, source
    from kebu.orders.models import Store

    # given a page of exports, each with its own owner, tag, source, store or actor among its filters
    # (every id different, so nothing is answered twice by chance)
    colleagues = [staff_member(None, f"colleague{i}", display_name=f"同事{i}") for i in range(10)]
    tags = [TagFactory(name=f"回头客{i}") for i in range(10)]
    sources = [source(f"渠道{i}") for i in range(10)]
    stores = [Store.objects.create(name=f"店铺{i}") for i in range(10)]
    for i in range(10):
        record(
            "customer.export",
            owner,
            data={
                "masked": True,
                "filters": {
                    "owner": [str(colleagues[i].pk)],
                    "tag": [str(tags[i].pk), str(tags[(i + 1) % 10].pk)],
                    "source": [str(sources[i].pk)],
                    "stage": ["vip"],
                },
                "searched": False,
                "rows": 3,
                "format": "xlsx",
                "columns": ["customer_no", "name"],
            },
        )
        record("customer.export", owner, data={"filters": {"owner": ["null"], "tag": [str(tags[i].pk)]}})
        record("order.export", owner, data={"filters": {"store": [str(stores[i].pk)]}, "rows": 1})
        record("audit.export", owner, data={"rows": 9, "filters": {"actor_id": colleagues[i].pk}})
        record("customer.update", owner, target_type="x.y", target_id=str(i), changes={"a": [1, 2]})

    # when the owner reads it, then it costs a fixed number of queries, however many exports it lists:
    # the plain page's, one per list whose filter form or columns are read (custom fields twice, stores,
    # sources) and one per kind of thing named (people, tags, sources, stores)
    with django_assert_max_num_queries(18):
        response = owner_client.get(LIST_URL, HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert len(shown(response)) == 50
    # and every id is named, none shown as a number (PostgreSQL's jsonb keeps the filters in its order)
    filters = [set(text.split("; ")) for text in re.findall(r"<li>Filters: ([^<]*)</li>", html)]
    for i in range(10):
        tags = f"Tag: 回头客{i}, 回头客{(i + 1) % 10}"
        owner_tags_source = {
            f"Owner: {colleagues[i]}",
            tags,
            f"Source channel: 渠道{i}",
            "Lifecycle stage: VIP",
        }
        assert owner_tags_source in filters
        assert {"Owner: No owner", f"Tag: 回头客{i}"} in filters
        assert {f"Store: 店铺{i}"} in filters
        assert {f"Actor: {colleagues[i]}"} in filters
    assert not re.search(r"(Owner|Tag|Source channel|Store|Actor): [^<]*#\d", _table_text(html))


def test_the_export_is_a_csv_excel_reads_with_its_own_entry_counting_the_rows(owner_client, owner):
    record("customer.update", owner, target_repr="张三", changes={"name": ["张三", "张三丰"]})
    record("auth.login_failed", None, data={"username": '=HYPERLINK("http://evil")'})
    before = AuditEntry.objects.count()

    response = owner_client.get(EXPORT_URL, REMOTE_ADDR="203.0.113.5")
    body, rows = read_csv(response)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert body.startswith("\ufeff")
    assert len(rows) == 1 + before  # header + every entry that existed, not the export's own
    assert any("张三: 张三 → 张三丰" in cell or "张三 → 张三丰" in cell for row in rows for cell in row)
    assert not any(cell.startswith("=") for row in rows for cell in row)
    export = AuditEntry.objects.get(action="audit.export")
    assert export.actor == owner and export.ip == "203.0.113.5"
    assert export.data == {"rows": before, "filters": {}}
    assert audit_verify().ok


def test_the_export_takes_the_pages_filters(owner_client, owner):
    record("customer.reveal", owner, target_type="customers.customer", target_id="1")
    record("customer.reveal", owner, target_type="customers.customer", target_id="2")
    record("customer.update", owner)

    response = owner_client.get(EXPORT_URL, {"action": "customer.reveal"})
    _body, rows = read_csv(response)

    assert len(rows) == 3
    assert response["X-Kebu-Rows"] == "2"
    assert AuditEntry.objects.get(action="audit.export").data == {
        "rows": 2,
        "filters": {"action": "customer.reveal"},
    }


def test_the_admin_shows_entries_but_offers_no_way_to_change_them(owner_client):
    entry = record()

    assert owner_client.get("/admin/audit/auditentry/").status_code == 200
    assert owner_client.get(f"/admin/audit/auditentry/{entry.pk}/change/").status_code == 200
    assert owner_client.get("/admin/audit/auditentry/add/").status_code == 403
    assert (
        owner_client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_pages_of_a_filtered_log_keep_its_filters(owner_client):
    from kebu.audit.tests.factories import record_many
    from kebu.audit.views import PAGE_SIZE

    record_many(PAGE_SIZE + 1, action="customer.archive")

    page = owner_client.get(LIST_URL, {"action": "customer.archive"}).content.decode()

    assert 'href="?action=customer.archive&amp;page=2"' in page


def test_what_a_reveal_and_two_step_verification_record_reads_in_words_not_code_names(owner_client):
    # given the entries a reveal of a receiver's phone, a new authenticator and a used recovery code write
    record(
        "customer.reveal",
        target_type="customers.customer",
        target_id="7",
        target_repr="C000007",
        data={"field": "receiver_phone", "item": "1253"},
    )
    record("auth.2fa_enabled", target_type="accounts.user", target_id="1", data={"new_phone": True})
    record("auth.2fa_recovery_code_used", target_type="accounts.user", target_id="1", data={"left": 9})

    # when the owner reads the log (in English: the Chinese words come with the translations)
    html = owner_client.get(LIST_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # then each says what happened in the page's words, not the program's keys
    assert "Contact detail: Receiver phone" in html
    assert "Row id: 1253" in html
    assert "Replaced an earlier authenticator: Yes" in html
    assert "Recovery codes left: 9" in html
    assert "receiver_phone" not in html
    for key in ("field", "item", "new_phone", "left"):
        assert f"<li>{key}:" not in html


def _table_text(html: str) -> str:
    """The log's table as read, without the codes kept in its hover titles."""
    import re

    table = html[html.index('id="audit-table"') : html.index("</table>")]
    return re.sub(r' title="[^"]*"', "", table)


def _entries_a_shop_writes(owner):
    """The entries an edit, an export with filters, an import, a recompute, a rename and a change of the
    shop's settings write, as their services write them."""
    from kebu.customers.tests.factories import make_customer

    customer = make_customer(actor=owner, name="张三")
    record(
        "customer.update",
        target=customer,
        changes={"stage": ["repeat", "vip"], "email": ["", "z***@example.com"]},
        data={"kind": "customer.updated"},
    )
    record(
        "customer.export",
        data={
            "masked": True,
            "filters": {"stage": ["vip", "member"], "spent_min": ["1000"]},
            "searched": False,
            "rows": 12,
            "format": "csv",
            "columns": ["customer_no", "name", "total_spent"],
        },
    )
    record(
        "customer.import",
        target_type="transfer.import",
        target_id="3",
        target_repr="#3 客户.xlsx",
        data={"kind": "customers", "file": "客户.xlsx", "bytes": 2048, "sha256": "ab" * 32, "mode": "all"},
    )
    record(
        "metrics.recompute",
        target_type="customers.customer",
        data={"customers_changed": 4308, "top_category_changed": 12},
    )
    record(
        "catalogue.change",
        target_type="orders.category",
        target_id="5",
        target_repr="护肤 › 面霜",
        changes={"path": ["护肤 › 乳霜", "护肤 › 面霜"]},
        data={"subcategories renamed": 2},
    )
    record(
        "order.pay",
        target_type="orders.order",
        target_id="77",
        target_repr="KB00001268",
        data={"amount": "1234.00", "method": "alipay"},
    )
    record(
        "settings.change",
        target_type="core.shopsettings",
        target_id="1",
        target_repr="shop settings",
        changes={"shared_pool_enabled": [True, False], "stage_vip_spent_cny": ["5000.00", "8000.00"]},
    )
    return customer


def test_the_entries_of_a_days_work_read_in_words_not_code_names(owner_client, owner):
    customer = _entries_a_shop_writes(owner)

    html = owner_client.get(LIST_URL, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # the targets are named as a merchant names them, and a customer links to their page
    assert f'<a href="/customers/{customer.pk}/"' in html
    assert f"Customer {customer.customer_no} 张三</a>" in html
    assert "Order KB00001268</a>" in html
    assert "Import #3 客户.xlsx</a>" in html
    assert "Category 护肤 › 面霜" in html
    assert "Shop settings</span>" in html
    # the details under the page's labels, the values as the app shows them
    assert "Lifecycle stage</span>: Repeat buyer → VIP" in html
    assert "Filters: Lifecycle stage: VIP, Member; Spent at least (¥): 1000" in html
    assert "Contact details masked: Yes" in html
    assert "Narrowed by a search" not in html  # said only of an export that was
    assert "Format: CSV" in html
    assert "Columns exported: Customer number, Name, Total spent" in html
    assert "Kind of sheet: Customers" in html
    assert "File size: 2.0\xa0KB" in html
    assert "If a row has problems: All or nothing" in html
    assert "Customers whose figures changed: 4308" in html
    assert "Category path</span>: 护肤 › 乳霜 → 护肤 › 面霜" in html
    assert "Subcategories renamed with it: 2" in html
    assert "Amount: ¥1,234.00" in html
    assert "Payment method: Alipay" in html
    assert "¥5,000.00 → ¥8,000.00" in html
    # and none of the program's words
    for code in (
        "customers.customer",
        "transfer.import #",
        "customers_changed",
        "top_category_changed",
        "subcategories renamed",
        "spent_min",
        "customer.updated",
        "<li>kind:",
        "good_rows",
    ):
        assert code not in _table_text(html), code


def test_the_entries_read_in_chinese_on_the_chinese_page(owner_client, owner):
    customer = _entries_a_shop_writes(owner)

    html = owner_client.get(LIST_URL, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert f"客户 {customer.customer_no} 张三</a>" in html
    assert "订单 KB00001268</a>" in html
    assert "导入 #3 客户.xlsx</a>" in html
    # a label and what follows joined by the Chinese colon, never the ASCII one
    assert "生命周期阶段</span>：复购 → VIP" in html
    assert "筛选条件：生命周期阶段：VIP、会员；" in html
    assert "支付宝" in html
    assert "¥5,000.00 → ¥8,000.00" in html
    assert "公海</span>：是 → 否" in html
    assert "格式：CSV" in html
    assert ": " not in _table_text(html)
    assert "客户 C" in html and "customers_changed" not in html


def test_the_export_says_what_the_page_says_with_the_stored_codes_beside_it(owner_client, owner):
    import json

    customer = _entries_a_shop_writes(owner)

    response = owner_client.get(EXPORT_URL, HTTP_ACCEPT_LANGUAGE="en")
    _body, rows = read_csv(response)

    header, *entries = rows
    by_action = {row[header.index("Action code")]: dict(zip(header, row, strict=True)) for row in entries}
    update, export = by_action["customer.update"], by_action["customer.export"]
    # the page's words: the target as a merchant names it, each change and detail under its label
    assert update["Target"] == f"Customer {customer.customer_no} 张三"
    # (as sets: PostgreSQL's jsonb keeps the keys in an order of its own)
    assert set(update["Changes"].split("; ")) == {
        "Lifecycle stage: Repeat buyer → VIP",
        "Email: — → z***@example.com",
    }
    assert set(export["Details"].split("; ")) == {
        "Contact details masked: Yes",
        "Filters: Lifecycle stage: VIP, Member",
        "Spent at least (¥): 1000",
        "Rows: 12",
        "Format: CSV",
        "Columns exported: Customer number, Name, Total spent",
    }
    assert "If a row has problems: All or nothing" in by_action["customer.import"]["Details"].split("; ")
    assert set(by_action["order.pay"]["Details"].split("; ")) == {
        "Amount: ¥1,234.00",
        "Payment method: Alipay",
    }
    # and for programs, the codes and the data as stored
    assert update["Target type"] == "customers.customer" and update["Target id"] == str(customer.pk)
    assert json.loads(update["Changes (JSON)"]) == {
        "stage": ["repeat", "vip"],
        "email": ["", "z***@example.com"],
    }
    assert json.loads(export["Details (JSON)"])["filters"] == {
        "stage": ["vip", "member"],
        "spent_min": ["1000"],
    }
