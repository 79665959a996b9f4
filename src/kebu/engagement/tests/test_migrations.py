"""Follow-ups made before Kebu kept what their titles are made of: an at-risk follow-up titled by Kebu's
own sentence, in either language, reads in each reader's language after migrating; a title a person
typed, even the same words, stays as typed."""

from __future__ import annotations

from datetime import date

import pytest
from django.utils import translation

from kebu.core.tests.migrations import migrate, migrate_to_latest
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import FollowUp, FollowUpKind


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    """Later tests need today's tables, whatever migration a test stopped at."""
    yield
    migrate_to_latest()


def _followup(customer, *, title: str, key: str | None) -> FollowUp:
    return FollowUp.objects.create(
        customer=customer, kind=FollowUpKind.MANUAL, key=key, title=title, due_on=date(2026, 3, 10)
    )


@pytest.mark.django_db(transaction=True)
def test_an_at_risk_follow_ups_stored_title_is_recognised_in_both_languages(sales_a):
    customer = make_customer(actor=sales_a, name="旧友")
    made_in_chinese = _followup(
        customer, title="高价值客户有流失风险：请尽快联系", key="at_risk:1:2026-03-01"
    )
    made_in_english = _followup(
        customer, title="Valuable customer at risk of leaving: get in touch", key="at_risk:1:2026-03-02"
    )
    typed = _followup(customer, title="高价值客户有流失风险：请尽快联系", key=None)
    other = _followup(customer, title="问问她面霜用得怎么样", key="at_risk:1:2026-03-03")

    migrate([("engagement", "0007_followup_title_parts")])
    migrate([("engagement", "0008_kebu_made_texts")])

    rows = {row.pk: row for row in FollowUp.objects.all()}
    for made in (made_in_chinese, made_in_english):
        with translation.override("en"):
            assert rows[made.pk].shown_title == "Valuable customer at risk of leaving: get in touch"
        with translation.override("zh-hans"):
            assert rows[made.pk].shown_title == "高价值客户有流失风险：请尽快联系"
    with translation.override("en"):
        assert rows[typed.pk].shown_title == "高价值客户有流失风险：请尽快联系"
        assert rows[other.pk].shown_title == "问问她面霜用得怎么样"
    assert (rows[typed.pk].title_parts, rows[other.pk].title_parts) == ({}, {})


@pytest.mark.django_db(transaction=True)
def test_migrating_back_leaves_the_titles_as_they_were_stored(sales_a):
    customer = make_customer(actor=sales_a, name="旧友")
    made = _followup(customer, title="高价值客户有流失风险：请尽快联系", key="at_risk:1:2026-03-01")
    migrate([("engagement", "0007_followup_title_parts")])
    migrate([("engagement", "0008_kebu_made_texts")])

    apps = migrate([("engagement", "0007_followup_title_parts")])

    old = apps.get_model("engagement", "FollowUp").objects.get(pk=made.pk)
    assert (old.title, old.title_parts) == ("高价值客户有流失风险：请尽快联系", {})
