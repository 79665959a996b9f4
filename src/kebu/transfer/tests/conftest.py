import pytest


@pytest.fixture(autouse=True)
def _messages_in_english():
    """Tests read the source messages; a test that wants the merchant's language overrides it again."""
    from django.utils import translation

    with translation.override("en"):
        yield
