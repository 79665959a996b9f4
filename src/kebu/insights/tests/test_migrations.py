"""A shop whose dashboard was built before the buyers sets were stored column by column, or before
there were month sets: migrating rewrites each set in place, or merges the month sets from the day
sets, and the dashboard shows the same figures with no rebuild."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from kebu.core.tests.migrations import migrate, migrate_to_latest
from kebu.customers.tests.factories import make_customer
from kebu.insights.models import DashboardBuyers, DashboardBuyersMonth, DashboardProductSalesMonth
from kebu.insights.selectors.dashboard import DashboardFilters, dashboard_figures
from kebu.insights.services.dashboard import BUYER, buyers_read, dashboard_rebuild
from kebu.orders.models import Store
from kebu.orders.tests.factories import make_order

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    """Later tests need today's tables, whatever migration a test stopped at."""
    yield
    migrate_to_latest()


@pytest.mark.django_db(transaction=True)
def test_the_buyers_sets_are_rewritten_by_column_and_read_the_same(owner, catalogue):
    alice, bob = make_customer(actor=owner, name="王芳"), make_customer(actor=owner, name="李雷")
    for customer, day, sku in ((alice, 3, "TEA-250"), (bob, 3, "CREAM-50"), (alice, 20, "CREAM-50")):
        make_order(
            actor=owner,
            customer=customer,
            store=catalogue.store,
            ordered_at=datetime(2025, 3, day, 10, tzinfo=SHANGHAI),
            lines=[(sku, 1)],
        )
    dashboard_rebuild()
    filters = DashboardFilters(date_from=date(2025, 3, 1), date_to=date(2025, 3, 31))
    before = dashboard_figures(user=owner, filters=filters)
    sets = {pk: buyers_read(bytes(blob)) for pk, blob in DashboardBuyers.objects.values_list("pk", "entries")}
    assert sets

    apps = migrate([("insights", "0004_roles_settings")])
    old = apps.get_model("insights", "DashboardBuyers")
    for pk, entries in sets.items():  # as 0004's code wrote them: one 15-byte record per entry
        old.objects.filter(pk=pk).update(entries=np.ascontiguousarray(entries, dtype=BUYER).tobytes())
    migrate([("insights", "0005_buyers_by_column")])

    after = {
        pk: buyers_read(bytes(blob)) for pk, blob in DashboardBuyers.objects.values_list("pk", "entries")
    }
    assert {pk: e.tolist() for pk, e in after.items()} == {pk: e.tolist() for pk, e in sets.items()}
    migrate_to_latest()
    again = dashboard_figures(user=owner, filters=filters)
    assert (again.buyers, again.previous_buyers, again.top_customers) == (
        before.buyers,
        before.previous_buyers,
        before.top_customers,
    )
    assert before.buyers.buyers == 2 and before.buyers.repeaters == 1


@pytest.mark.django_db(transaction=True)
def test_migrating_back_writes_the_records_again(owner, catalogue):
    for day in (3, 4):
        make_order(
            actor=owner,
            customer=make_customer(actor=owner, name=f"客{day}"),
            store=catalogue.store,
            ordered_at=datetime(2025, 3, day, 10, tzinfo=SHANGHAI),
            lines=[("TEA-250", 1)],
        )
    dashboard_rebuild()
    sets = {pk: buyers_read(bytes(blob)) for pk, blob in DashboardBuyers.objects.values_list("pk", "entries")}

    apps = migrate([("insights", "0004_roles_settings")])

    old = apps.get_model("insights", "DashboardBuyers")
    back = {
        pk: np.frombuffer(bytes(blob), dtype=BUYER) for pk, blob in old.objects.values_list("pk", "entries")
    }
    assert {pk: e.tolist() for pk, e in back.items()} == {pk: e.tolist() for pk, e in sets.items()}


def _month_sets() -> dict:
    return {
        (model.__name__, row.month, row.store_id, row.owner_id): bytes(row.entries)
        for model in (DashboardBuyersMonth, DashboardProductSalesMonth)
        for row in model.objects.all()
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("since", ["0005_buyers_by_column", "0006_buyers_months"])
def test_the_month_sets_are_merged_from_the_day_sets_already_stored(owner, sales_a, catalogue, since):
    pdd = Store.objects.create(name="拼多多店", platform="pinduoduo")
    alice = make_customer(actor=owner, name="王芳", owner=sales_a)
    bob = make_customer(actor=owner, name="李雷")
    for customer, store, (month, day) in (
        (alice, catalogue.store, (1, 30)),
        (alice, catalogue.store, (2, 3)),
        (alice, catalogue.store, (2, 27)),
        (bob, catalogue.store, (2, 3)),
        (bob, catalogue.store, (2, 10)),  # his first order and another, one month, one store
        (bob, pdd, (2, 28)),
        (bob, pdd, (3, 1)),
    ):
        make_order(
            actor=owner,
            customer=customer,
            store=store,
            ordered_at=datetime(2025, month, day, 23, 30, tzinfo=SHANGHAI),
            lines=[("TEA-250", 1), ("CREAM-50", day % 3 + 1)],
        )
    dashboard_rebuild()
    built = _month_sets()
    filters = DashboardFilters(date_from=date(2025, 1, 15), date_to=date(2025, 3, 15), grain="month")
    before = dashboard_figures(user=owner, filters=filters)

    migrate([("insights", since)])
    migrate_to_latest()

    assert _month_sets() == built
    february = ("DashboardBuyersMonth", date(2025, 2, 1), catalogue.store.pk)
    assert len(built) == 10 and len(buyers_read(built[(*february, sales_a.pk)])) == 1
    bobs = buyers_read(built[(*february, bob.owner_id)])
    assert bobs[["orders", "first"]].tolist() == [(2, 1)]
    again = dashboard_figures(user=owner, filters=filters)
    assert (again.buyers, again.buckets, again.top_customers, again.top_products) == (
        before.buyers,
        before.buckets,
        before.top_customers,
        before.top_products,
    )
    assert (before.buyers.buyers, before.buyers.repeaters) == (2, 2)
