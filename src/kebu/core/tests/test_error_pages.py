"""Error pages say what happened and what to do, in the merchant's language; a database held by a long
write answers "busy, try again" (503), not a bare server error."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from kebu.core.tests.error_urls import HELD_ALIAS
from kebu.core.views import BUSY_RETRY_SECONDS

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    return response.content.decode()


def test_a_page_that_is_not_there_says_so_in_the_merchants_language_with_the_menu_still_there(clerk):
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9")
    client.force_login(clerk)

    response = client.get(reverse("customers:detail", args=[987654321]))

    assert response.status_code == 404
    with translation.override("zh-hans"):
        assert gettext("Page not found") in page_text(response)
        assert gettext("Page not found") != "Page not found"  # and translated
    assert 'id="user-menu"' in page_text(response)  # still inside Kebu: the menu to go on from


def test_a_form_sent_after_its_session_ended_says_it_expired_and_nothing_was_saved(clerk):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(clerk)

    response = client.post(reverse("customers:create"), {"name": "王芳"})

    assert response.status_code == 403
    assert "The form has expired" in page_text(response)
    assert "Go back, reload the page" in page_text(response)


@pytest.mark.urls("kebu.core.tests.error_urls")
def test_an_unexpected_error_gets_kebus_page_not_a_bare_server_error():
    response = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="en").get("/failing/")

    assert response.status_code == 500
    assert 'data-status="500"' in page_text(response)
    assert "did not expect" in page_text(response)


@pytest.fixture
def held_database(tmp_path: Path, django_db_blocker) -> Iterator[sqlite3.Connection]:
    """An SQLite file under ``HELD_ALIAS`` through Kebu's backend, waiting 0.2 s for a lock (the shop's
    waits 20), and another connection holding its write lock, as a long import's undo would."""
    from django.db.utils import ConnectionHandler

    path = tmp_path / "kebu.sqlite3"
    sqlite = {
        "ENGINE": "kebu.core.sqlite",
        "NAME": str(path),
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 0.2},
    }
    connections[HELD_ALIAS] = ConnectionHandler({"default": sqlite, HELD_ALIAS: sqlite})[HELD_ALIAS]
    with django_db_blocker.unblock():
        connections[HELD_ALIAS].cursor().execute("CREATE TABLE t (x INTEGER)")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield holder
        finally:
            holder.rollback()
            holder.close()
            connections[HELD_ALIAS].close()
            del connections[HELD_ALIAS]


@pytest.mark.urls("kebu.core.tests.error_urls")
def test_a_save_that_finds_the_database_held_is_told_kebu_is_busy_and_when_to_try_again(held_database):
    response = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").get("/held/")

    assert response.status_code == 503
    assert response["Retry-After"] == str(BUSY_RETRY_SECONDS)
    with translation.override("zh-hans"):
        heading = gettext("Kebu is busy: try again shortly")
    assert heading != "Kebu is busy: try again shortly" and heading in page_text(response)
    # and nothing went in
    held_database.rollback()
    assert held_database.execute("SELECT COUNT(*) FROM t").fetchone() == (0,)


@pytest.mark.urls("kebu.core.tests.error_urls")
def test_the_api_answers_a_held_database_with_503_and_retry_after_in_json(held_database):
    response = Client(raise_request_exception=False).get("/api/v1/held/")

    assert response.status_code == 503
    assert response["Retry-After"] == str(BUSY_RETRY_SECONDS)
    assert response.json()["code"] == "busy"


@pytest.mark.urls("kebu.core.tests.error_urls")
def test_once_the_long_write_is_over_the_same_request_goes_through(held_database):
    client = Client(raise_request_exception=False)
    assert client.get("/held/").status_code == 503

    held_database.rollback()

    assert client.get("/held/").status_code == 200
