"""Logging in: repeated wrong passwords lock that account on that address for a while."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

RIGHT = "pass-xiaowang-123"


def _login(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_the_right_password_logs_in(client, clerk):
    response = _login(client, clerk.username, RIGHT)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(clerk.pk)


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, clerk):
    for _ in range(4):
        assert _login(client, clerk.username, "wrong-password").status_code == 200
    assert _login(client, clerk.username, "wrong-password").status_code == 429  # the fifth locks
    response = _login(client, clerk.username, RIGHT)
    assert response.status_code == 429
    assert 'id="locked-out"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_lockout_of_one_account_leaves_colleagues_alone(client, clerk, owner):
    for _ in range(6):
        _login(client, clerk.username, "wrong-password")
    assert _login(Client(), owner.username, "pass-laoban-123").status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(client, clerk):
    for _ in range(4):
        _login(client, clerk.username, "wrong-password")
    assert _login(client, clerk.username, RIGHT).status_code == 302
    client.logout()
    for _ in range(4):
        _login(client, clerk.username, "wrong-password")
    assert _login(client, clerk.username, RIGHT).status_code == 302


SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("minutes", "language", "said"),
    [
        (20, "en", "locked on this device for 20 minutes after repeated wrong passwords, until 10:25."),
        (1, "en", "locked on this device for 1 minute after repeated wrong passwords, until 10:06."),
        (20, "zh-hans", "锁定 20 分钟，到 10:25 解锁。"),
    ],
)
def test_the_lockout_page_says_how_long_the_lock_lasts_and_when_it_ends(
    client, clerk, settings, minutes, language, said
):
    # given a shop that locks for its own number of minutes
    settings.AXES_COOLOFF_TIME = minutes / 60
    client.cookies.load({settings.LANGUAGE_COOKIE_NAME: language})

    # when the clerk mistypes the password five times, the last at 10:04:50 shop time
    with time_machine.travel(datetime(2025, 3, 3, 10, 4, tzinfo=SHANGHAI), tick=False) as clock:
        for _ in range(5):
            clock.shift(timedelta(seconds=10))
            response = _login(client, clerk.username, "wrong-password")

    # then the page says how long the lock lasts and until when (the minute it is over, rounded up)
    assert response.status_code == 429
    assert said in " ".join(response.content.decode().split())
