"""What an integrator reads when the API refuses a request before any Kebu rule runs: not signed in, a
colleague who has left, a body that is no JSON, a verb or media type a route does not take. Each answer
is JSON with a machine-readable ``code`` beside the message, as every Kebu error is, and the one for a
missing login says how to sign in."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

LIST_URL = "/api/v1/customers/"


def _says_how_to_sign_in(response) -> None:
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "not_authenticated"
    assert "/login/" in body["detail"]
    assert "X-CSRFToken" in body["detail"]


def test_no_login_is_refused_with_how_to_sign_in():
    _says_how_to_sign_in(Client().get(LIST_URL, HTTP_ACCEPT_LANGUAGE="en"))


def test_a_colleague_who_left_is_refused_like_no_login(staff_member):
    # given: a clerk signed in, then switched off by the owner when they left
    leaver = staff_member("sales", "leaver")
    client = Client()
    client.force_login(leaver)
    leaver.is_active = False
    leaver.save(update_fields=["is_active"])

    # then: their session no longer opens the API, for reads and writes alike
    _says_how_to_sign_in(client.get(LIST_URL, HTTP_ACCEPT_LANGUAGE="en"))
    _says_how_to_sign_in(
        client.post(LIST_URL, {"name": "张三"}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en")
    )


def test_a_body_that_is_no_json_is_400_with_a_code(staff_member):
    client = Client()
    client.force_login(staff_member("sales", "clerk1"))

    response = client.post(LIST_URL, "{bad", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_a_verb_or_media_type_a_route_does_not_take_answers_with_a_code(staff_member):
    client = Client()
    client.force_login(staff_member("sales", "clerk1"))

    not_allowed = client.delete(LIST_URL)
    unsupported = client.post(LIST_URL, "name=x", content_type="text/plain")

    assert (not_allowed.status_code, not_allowed.json()["code"]) == (405, "method_not_allowed")
    assert (unsupported.status_code, unsupported.json()["code"]) == (415, "unsupported_media_type")


def test_the_api_docs_say_how_to_sign_in_and_what_a_refusal_looks_like(staff_member):
    client = Client()
    client.force_login(staff_member("sales", "clerk1"))

    description = client.get("/api/schema/?format=json").json()["info"]["description"]
    refused = Client().get(LIST_URL).json()

    for promise in ("/login/", "sessionid", "X-CSRFToken", refused["code"], "If-Match", "invalid_cursor"):
        assert promise in description, promise


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_reference_pages_send_someone_not_signed_in_to_log_in_and_back(page):
    # Not the 403 page, whose "your role does not allow this" sends a developer to an admin for nothing.
    response = Client().get(page, HTTP_ACCEPT_LANGUAGE="en")

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={page}"


def test_the_api_docs_name_every_resource_whose_changes_send_the_version_read(staff_member):
    # A client reads the overview first: a resource left out of it is written to without a version, and
    # every such write answers 400 (products came to need one, unmentioned there).
    client = Client()
    client.force_login(staff_member("sales", "clerk1"))
    schema = client.get("/api/schema/?format=json").json()
    changes = next(p for p in schema["info"]["description"].split("\n\n") if p.startswith("**Changes**"))
    named = {
        "customers": "a customer",
        "products": "a product",
        "orders": "an order",
        "refunds": "an after-sale",
    }

    versioned = {
        path.split("/")[3]
        for path, operations in schema["paths"].items()
        for operation in operations.values()
        if any(parameter.get("name") == "If-Match" for parameter in operation.get("parameters", []))
    }

    assert versioned <= set(named), versioned - set(named)
    assert [named[resource] for resource in sorted(versioned) if named[resource] not in changes] == []
