import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db


def test_every_page_has_an_icon_and_the_browsers_default_address_finds_it(client):
    page = client.get("/login/").content.decode()
    linked = re.search(r'<link rel="icon" href="([^"]+)"', page)
    assert linked is not None

    response = client.get("/favicon.ico")  # what a browser asks for on a page that names no icon

    assert response.status_code == 302
    assert response["Location"] == linked.group(1)
    assert finders.find("kebu/favicon.svg")
