import pytest

from kebu.customers.tests.conftest import pool_off  # noqa: F401  (a fixture, shared by name)


@pytest.fixture(autouse=True)
def _messages_in_english():
    """Tests read the source messages; a test that wants the merchant's language overrides it again."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def pages_in_english(settings):
    """The pages in the source language (a browser that asks for none gets the shop's default)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def no_drafts_left_over():
    """Uploads a test kept as drafts are files in the data directory: none is left for the next test."""
    from kebu.transfer.drafts import DRAFT_PREFIX
    from kebu.transfer.imports import imports_dir

    for path in imports_dir().glob(DRAFT_PREFIX + "*"):
        path.unlink()


@pytest.fixture
def shop(owner):
    """The catalogue of an order sheet's tests, its store a Taobao shop: the samples are Taobao exports,
    whose buyer IDs are 旺旺 nicks."""
    from kebu.orders.tests.factories import make_catalogue

    catalogue = make_catalogue(actor=owner)
    catalogue.store.platform = "taobao"
    catalogue.store.save()
    return catalogue
