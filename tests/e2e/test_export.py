"""What a manager clicks to take the customer list away as a spreadsheet: the export page, the columns,
the .xlsx that arrives, in Chinese, with only the filtered customers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kebu.customers.models import Stage
from kebu.customers.services import CustomerInput, PhoneInput, customer_create
from kebu.transfer.readers import table_read
from tests.e2e.conftest import log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_manager_exports_the_filtered_customer_list_as_xlsx(page, live_server, staff_member, owner):
    manager = staff_member("manager", "zhuguan", display_name="主管")
    for index, (name, stage) in enumerate(
        [("王小明", Stage.REPEAT), ("李小华", Stage.REPEAT), ("赵六", Stage.LEAD)]
    ):
        customer_create(
            actor=owner,
            data=CustomerInput(name=name, stage=stage, phones=[PhoneInput(number=f"1381234000{index}")]),
        )
    log_in(page, live_server, manager)

    page.goto(f"{live_server.url}/customers/?stage=repeat")
    page.click("#export")
    page.wait_for_selector("#export-form")
    assert "2" in page.inner_text("#export-count")
    page.uncheck("#column-notes")
    screenshot(page, "export-options")
    with page.expect_download() as download:
        page.click("#export-submit")
    table = table_read(Path(download.value.path()).read_bytes())
    assert table.headers[:3] == ["客户编号", "姓名", "电话"] and "备注" not in table.headers
    names = sorted(cells[1] for _number, cells in table.rows)
    assert names == ["李小华", "王小明"]
