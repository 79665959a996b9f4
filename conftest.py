"""Shared test set-up: personas and test-only settings.

The database is chosen the way production chooses it: DATABASE_URL (the Makefile sets it for the
PostgreSQL run), else SQLite."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("KEBU_DATA_DIR", os.path.join(os.path.dirname(__file__), "var", "test"))


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Tests run against source files; the manifest needs collectstatic, fast hashing needs no argon2.
    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.HUEY["immediate"] = True


@pytest.fixture
def owner(django_user_model):
    """The shop owner: an admin account."""
    return django_user_model.objects.create_user(
        username="laoban", password="pass-laoban-123", display_name="老板", is_staff=True, is_superuser=True
    )


@pytest.fixture
def clerk(django_user_model):
    """A sales clerk."""
    return django_user_model.objects.create_user(
        username="xiaowang", password="pass-xiaowang-123", display_name="小王"
    )


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


@pytest.fixture
def owner_client(owner):
    from django.test import Client

    client = Client()
    client.force_login(owner)
    return client
