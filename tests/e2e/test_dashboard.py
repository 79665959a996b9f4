"""The dashboard as a clerk reads it in the browser: the charts drawn from the vendored ECharts, their
figures whole."""

from __future__ import annotations

import pytest
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.insights.services.dashboard import dashboard_rebuild
from kebu.orders.tests.factories import make_catalogue, make_order
from tests.e2e.conftest import log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# For each bar chart with its amounts written beside the bars: how far the widest label reaches past the
# chart's right edge, in pixels (measured in the chart's own 12px font).
OVERFLOW = """
(id) => {
  const chart = window.echarts.getInstanceByDom(document.getElementById(id));
  const option = chart.getOption();
  const values = option.series[0].data;
  const format = option.series[0].label.formatter;
  const context = document.createElement("canvas").getContext("2d");
  context.font = "12px sans-serif";
  let worst = -Infinity;
  values.forEach((value, index) => {
    const end = chart.convertToPixel({ seriesIndex: 0 }, [value, index])[0];
    const text = format({ value: value });
    worst = Math.max(worst, end + 5 + context.measureText(text).width - chart.getWidth());
  });
  return worst;
}
"""


@pytest.mark.parametrize("width", [1366, 390])
def test_the_amounts_beside_the_bars_are_not_cut_off(page, live_server, clerk, owner, width):
    # given a clerk's customer whose one order of ¥3,000.00 ends where the axis does (a round step)
    catalogue = make_catalogue(actor=owner)
    customer = make_customer(actor=owner, name="陈小春", owner=clerk)
    make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        lines=[("TEA-250", 11), ("CREAM-50", 8)],
        ordered_at=timezone.now(),
    )
    dashboard_rebuild()

    # when the clerk opens the dashboard on a desk or a phone
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, clerk)
    page.goto(f"{live_server.url}/insights/")
    page.wait_for_function("window.echarts && document.querySelector('#chart-top-customers canvas')")
    screenshot(page, f"dashboard-{width}")

    # then every amount written beside a bar is inside its chart, "3,000.00" whole
    for chart in ("chart-categories", "chart-top-customers", "chart-top-products"):
        assert page.evaluate(OVERFLOW, chart) <= 0, chart


# Each lifecycle stage's drawn piece: its data index, count and width on the canvas, in pixels.
PIECES = """
() => {
  const chart = window.echarts.getInstanceByDom(document.getElementById("chart-funnel"));
  const data = chart.getModel().getSeriesByIndex(0).getData();
  const stages = chart.getOption().series[0].data;
  const pieces = [];
  for (let i = 0; i < data.count(); i++) {
    let el = data.getItemGraphicEl(i);
    if (el && el.childOfName && el.childOfName("piece")) el = el.childOfName("piece");
    pieces.push({ count: stages[i].value, width: el ? el.getBoundingRect().width : 0 });
  }
  return pieces;
}
"""


def test_each_lifecycle_stage_is_drawn_as_wide_as_its_own_count(page, live_server, clerk, owner):
    # given stages whose counts do not fall in order: no new customers at all, then many repeat buyers
    counts = {"lead": 8, "new": 0, "converted": 1, "repeat": 20, "member": 4, "vip": 12}
    for stage, n in counts.items():
        for i in range(n):
            make_customer(actor=owner, name=f"{stage}{i}", owner=clerk, stage=stage)
    # and a sale in the shop (someone else's customer), without which the page shows no charts
    catalogue = make_catalogue(actor=owner)
    buyer = make_customer(actor=owner, name="老主顾", owner=owner)
    make_order(
        actor=owner, customer=buyer, store=catalogue.store, lines=[("TEA-250", 1)], ordered_at=timezone.now()
    )
    dashboard_rebuild()

    # when the clerk opens the dashboard
    log_in(page, live_server, clerk)
    page.goto(f"{live_server.url}/insights/")
    page.wait_for_selector("#chart-funnel canvas")
    screenshot(page, "dashboard-lifecycle")
    pieces = page.evaluate(PIECES)

    # then every piece's width follows its own count: the stage with nobody is the narrowest, the one
    # with the most customers the widest, and widths keep the counts' proportions
    assert [p["count"] for p in pieces] == list(counts.values())
    widest = max(pieces, key=lambda p: p["width"])
    assert widest["count"] == 20
    assert min(pieces, key=lambda p: p["width"])["count"] == 0
    for piece in pieces:
        assert piece["width"] == pytest.approx(widest["width"] * piece["count"] / 20, abs=2), piece
