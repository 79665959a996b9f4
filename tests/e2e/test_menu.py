"""The top menu as an admin sees it, with every item: one line on a desk's screen in either language,
folded behind the menu button below 1200 px."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from kebu.accounts.tests.otp_helpers import login_verified
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Whether the language menu's choice fits beside its arrow (a cut one read "Englis").
LANGUAGE_WHOLE = """
() => {
  const select = document.querySelector("select[name=language]");
  const style = getComputedStyle(select);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const text = context.measureText(select.options[select.selectedIndex].text).width;
  return text + parseFloat(style.paddingLeft) + parseFloat(style.paddingRight) <= select.clientWidth + 1;
}
"""


def _as_admin(page, live_server, owner, language: str) -> None:
    client = Client()
    login_verified(client, owner)
    page.context.add_cookies(
        [
            {"name": name, "value": value, "url": live_server.url}
            for name, value in (
                (settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value),
                (settings.LANGUAGE_COOKIE_NAME, language),
            )
        ]
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("width", [1200, 1280, 1440])
def test_the_menu_is_one_line_with_every_label_whole_on_a_desk(page, live_server, owner, language, width):
    # given an admin, who has every menu item, in English (the longer labels) or Chinese
    _as_admin(page, live_server, owner, language)
    page.set_viewport_size({"width": width, "height": 700})

    # when they open a page
    page.goto(f"{live_server.url}/orders/")
    screenshot(page, f"menu-{language}-{width}")

    # then the menu is one line, no label broken over two ("Audit / log"), nothing wider than the page
    link_heights = page.eval_on_selector_all("#nav .nav-link", "links => links.map(l => l.offsetHeight)")
    assert len(link_heights) >= 10 and max(link_heights) == min(link_heights), link_heights
    assert page.evaluate("document.querySelector('nav').offsetHeight") < 70
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # and the language menu shows its choice whole
    assert page.evaluate(LANGUAGE_WHOLE)


def test_below_a_desk_s_width_the_menu_folds_behind_its_button(page, live_server, owner):
    _as_admin(page, live_server, owner, "en")
    page.set_viewport_size({"width": 1024, "height": 700})

    page.goto(f"{live_server.url}/orders/")
    assert not page.is_visible("#nav-import")
    page.click(".navbar-toggler")

    page.wait_for_selector("#nav-import", state="visible")
