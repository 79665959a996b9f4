from __future__ import annotations

import pytest

from kebu.core.pagination import paginate
from kebu.customers.models import Customer
from kebu.customers.tests.factories import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def seven(clerk):
    for i in range(7):
        make_customer(actor=clerk, name=f"客户{i}")
    return Customer.objects.order_by("id")


def test_pages_walk_every_row_once_and_know_the_exact_total(seven):
    seen = []
    number = 1
    while True:
        page = paginate(seven, page=number, per_page=3)
        seen += [c.pk for c in page.object_list]
        assert page.total == 7 and page.total_is_exact and page.num_pages == 3
        if not page.has_next:
            break
        number = page.next_page_number
    assert seen == list(seven.values_list("pk", flat=True))


def test_over_the_cap_the_total_is_a_floor_and_pages_go_on(seven):
    page = paginate(seven, page=3, per_page=2, count_cap=5)
    assert (page.total, page.total_is_exact, page.num_pages) == (5, False, None)
    assert [c.name for c in page.object_list] == ["客户4", "客户5"]
    assert page.has_next


def test_a_page_past_the_end_or_not_a_number_lands_on_a_real_page(seven):
    assert paginate(seven, page=99, per_page=3).number == 3
    assert paginate(seven, page="abc", per_page=3).number == 1
