from __future__ import annotations

import pytest
from django.utils import translation

from kebu.audit import display
from kebu.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def _details(action: str, data: dict, language: str = "en") -> list[tuple[str, str]]:
    with translation.override(language):
        return display.details(AuditEntry(action=action, data=data))


def test_a_customer_event_this_module_does_not_know_reads_as_stored():
    # A newer feature's timeline event, should the rule of which kinds are shown ever let it through
    # (``_shown`` is the only guard before the lookup, so it is asked directly).
    assert display._detail_value("customer.assign", "kind", "customer.merged", display.Reader()) == (
        "customer.merged"
    )


def test_a_customer_event_kind_stored_as_a_list_does_not_break_the_page():
    assert _details("customer.update", {"kind": ["customer.claimed"], "rows": 1}) == [("Rows", "1")]


def test_an_imports_mode_reads_as_a_sentence_with_its_value():
    assert ("If a row has problems", "All or nothing") in _details("customer.import", {"mode": "all"})
    assert ("If a row has problems", "Import the good rows, report the others") in _details(
        "customer.import", {"mode": "good_rows"}
    )


def test_an_imports_mode_reads_as_a_sentence_in_chinese():
    # fails until the catalogue has "If a row has problems"
    assert ("遇到有问题的行时", "全部成功才导入") in _details("customer.import", {"mode": "all"}, "zh-hans")


def test_a_role_change_names_the_roles_kebu_made_in_the_readers_language_and_others_as_written():
    entry = AuditEntry(
        action="auth.role_change",
        target_type="accounts.user",
        changes={"groups": [["门店导购"], ["主管", "门店导购"]]},
        data={"added": ["主管"], "removed": []},
    )

    with translation.override("en"):
        assert display.changes(entry) == [("Groups", "门店导购", "Manager, 门店导购")]
        assert display.details(entry) == [("Added", "Manager")]


def test_a_role_whose_permissions_changed_is_named_in_the_readers_language():
    entry = AuditEntry(
        action="auth.permission_change", target_type="auth.group", target_id="1", target_repr="只读"
    )

    with translation.override("en"):
        assert display.target_text(entry) == "Group Read-only"
