"""Logging in: repeated wrong passwords lock that account on that address for a while."""

from __future__ import annotations

import pytest
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
