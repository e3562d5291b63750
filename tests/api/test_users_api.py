"""/api/v2/users: every status code, Auth0's shapes, the merge of SPEC.md section 4."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api, make_api
from tests.factories import FACTORY_CONTEXT, UserFactory
from tests.helpers import events
from users import services
from users.models import ApiClient, Tenant, User

pytestmark = pytest.mark.django_db
DB = "Username-Password-Authentication"


def error_of(response: Any) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"statusCode", "error", "message", "errorCode"}
    assert body["statusCode"] == response.status_code
    return response.status_code, body["errorCode"]


@pytest.fixture
def ada(tenant: Tenant) -> User:
    return UserFactory.create(
        tenant=tenant,
        email="ada@acme.test",
        name="Ada",
        user_metadata={"hobby": "surfing", "addresses": {"home": "123 Main"}},
        app_metadata={"plan": "pro"},
    )


def test_list_is_a_bare_array_or_a_page_with_totals(api: Api, ada: User, tenant: Tenant) -> None:
    UserFactory.create(tenant=tenant, email="bob@acme.test", user_metadata={"hobby": "chess"})
    users = api.get("/users", q="user_metadata.hobby:surfing").json()
    assert [u["email"] for u in users] == ["ada@acme.test"]
    assert users[0]["identities"] == [
        {"connection": DB, "provider": "auth0", "user_id": ada.user_id[6:], "isSocial": False}
    ]
    assert users[0]["created_at"].endswith("Z") and len(users[0]["created_at"]) == 24
    page = api.get("/users", per_page=1, page=1, include_totals="true", sort="email:1").json()
    assert (page["start"], page["limit"], page["length"], page["total"]) == (1, 1, 1, 2)
    assert page["users"][0]["email"] == "bob@acme.test"
    only = api.get("/users", fields="email,user_metadata", sort="email:1").json()
    assert only[0] == {
        "user_id": ada.user_id,
        "email": "ada@acme.test",
        "user_metadata": ada.user_metadata,
    }
    without = api.get("/users", fields="app_metadata,identities", include_fields="false").json()
    assert "app_metadata" not in without[0] and "email" in without[0]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"search_engine": "v2"}, 400, "invalid_query_string"),
        ({"q": "name:(ada"}, 400, "invalid_query_string"),
        ({"q": "shoe_size:4"}, 400, "invalid_query_string"),
        ({"per_page": 101}, 400, "invalid_paging"),
        ({"page": -1}, 400, "invalid_paging"),
        ({"page": 10**35}, 400, "invalid_paging"),  # found by schemathesis: was a 500
        ({"page": "x"}, 400, "invalid_query_string"),
        ({"sort": "nope:1"}, 400, "invalid_query_string"),
        ({"fields": "password"}, 400, "invalid_query_string"),
        ({"q": "app_metadata.plan:pro"}, 403, "plan_required"),
    ],
)
def test_bad_searches(api: Api, ada: User, params: dict[str, Any], status: int, code: str) -> None:
    assert error_of(api.get("/users", **params)) == (status, code)


def test_app_metadata_search_on_a_paid_plan(paid_api: Api, paid_tenant: Tenant) -> None:
    UserFactory.create(tenant=paid_tenant, email="g@x.test", app_metadata={"plan": "pro"})
    assert [u["email"] for u in paid_api.get("/users", q="app_metadata.plan:pro").json()] == [
        "g@x.test"
    ]


def test_tokens(client: Any, api: Api, ada: User, tenant: Tenant) -> None:
    assert error_of(client.get("/api/v2/users")) == (401, "invalid_token")
    bad = Api(client, "mda_not-a-token")
    assert error_of(bad.get("/users")) == (401, "invalid_token")
    services.api_client_revoke(client=ApiClient.objects.get(), by=FACTORY_CONTEXT)
    assert error_of(api.get("/users")) == (401, "invalid_token")


def test_a_token_sees_only_its_tenant(api: Api, paid_tenant: Tenant) -> None:
    other = UserFactory.create(tenant=paid_tenant, email="g@x.test")
    assert error_of(api.get(f"/users/{other.user_id}")) == (404, "inexistent_user")
    assert api.get("/users-by-email", email="g@x.test").json() == []
    assert error_of(api.call("DELETE", f"/users/{other.user_id}")) == (404, "inexistent_user")


@pytest.mark.parametrize(
    ("scopes", "method", "path", "body"),
    [
        (("create:users",), "GET", "/users", None),
        (("read:users",), "POST", "/users", {"connection": DB, "email": "n@x.test"}),
        (("read:users",), "PATCH", "/users/{id}", {"name": "X"}),
        (("update:users_app_metadata",), "PATCH", "/users/{id}", {"name": "X"}),
        (("update:users",), "DELETE", "/users/{id}", None),
        (("update:users",), "GET", "/users-by-email?email=a@b.c", None),
    ],
)
def test_missing_scopes_are_403(
    tenant: Tenant, ada: User, scopes: tuple[str, ...], method: str, path: str, body: Any
) -> None:
    api = make_api(tenant, *scopes)
    response = api.call(method, path.replace("{id}", ada.user_id), body)
    assert error_of(response) == (403, "insufficient_scope")
    assert User.objects.get(pk=ada.pk).version == ada.version


def test_create(api: Api, tenant: Tenant) -> None:
    response = api.call(
        "POST",
        "/users",
        {
            "connection": DB,
            "email": "New@X.test",
            "password": "correct horse battery",
            "user_metadata": {"theme": "dark"},
            "app_metadata": {"plan": "pro"},
            "verify_email": False,
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new@x.test" and body["user_metadata"] == {"theme": "dark"}
    assert "password" not in body and body["user_id"].startswith("auth0|")
    [event] = events(tenant, action="user.create")
    assert (event.actor, event.channel) == ("api_client:app", "api")
    assert error_of(api.call("POST", "/users", {"connection": DB, "email": "new@x.test"})) == (
        409,
        "user_exists",
    )


@pytest.mark.parametrize(
    ("body", "raw", "message"),
    [
        (
            {"connection": DB, "email": "a@x.test", "shoe_size": 44},
            None,
            "Payload validation error: 'Additional properties not allowed: shoe_size'",
        ),
        ({"connection": DB, "email": 5}, None, "on property email"),
        ({"email": "a@x.test"}, None, "on property connection"),
        (None, b'{"connection": ', "The body is not valid JSON"),
        (None, b"[1, 2]", "Payload validation error"),
        ({"connection": DB, "email": "a@x.test", "user_metadata": {"a.b": 1}}, None, '"."'),
        ({"connection": DB, "email": "a@x.test", "user_metadata": None}, None, "cannot be null"),
        ({"connection": "nope", "email": "a@x.test"}, None, "does not exist"),
    ],
)
def test_bad_bodies_are_400_and_change_nothing(
    api: Api, tenant: Tenant, body: Any, raw: bytes | None, message: str
) -> None:
    response = api.call("POST", "/users", body, raw=raw)
    assert error_of(response) == (400, "invalid_body")
    assert message in response.json()["message"]
    assert not User.objects.filter(tenant=tenant).exists()


def test_a_body_over_a_megabyte_is_413(api: Api, tenant: Tenant) -> None:
    big = {"connection": DB, "email": "a@x.test", "user_metadata": {"blob": "x" * 1_100_000}}
    response = api.call("POST", "/users", big)
    assert error_of(response) == (413, "invalid_body")
    assert "X-RateLimit-Remaining" in response
    assert not User.objects.filter(tenant=tenant).exists()


def test_patch_merges_at_the_first_level(api: Api, ada: User) -> None:
    """SPEC.md section 4's worked example, then null deletes a key and {} clears a tier."""
    path = f"/users/{ada.user_id}"
    merged = api.call("PATCH", path, {"user_metadata": {"addresses": {"work": "100 Industrial"}}})
    assert merged.status_code == 200
    assert merged.json()["user_metadata"] == {
        "hobby": "surfing",
        "addresses": {"work": "100 Industrial"},
    }
    assert merged["ETag"] == f'"{ada.user_id}:2"'
    deleted = api.call("PATCH", path, {"user_metadata": {"hobby": None}, "name": "Ada L."})
    assert deleted.json()["user_metadata"] == {"addresses": {"work": "100 Industrial"}}
    assert deleted.json()["name"] == "Ada L."
    cleared = api.call("PATCH", path, {"app_metadata": {}})
    assert cleared.json()["app_metadata"] == {}
    refused = api.call("PATCH", path, {"user_metadata": None})
    assert error_of(refused) == (400, "invalid_body")
    unknown = api.call("PATCH", path, {"shoe_size": 1})
    assert error_of(unknown) == (400, "invalid_body")
    assert User.objects.get(pk=ada.pk).version == 4


def test_if_match(api: Api, ada: User) -> None:
    path = f"/users/{ada.user_id}"
    etag = api.get(path)["ETag"]
    assert etag == f'"{ada.user_id}:1"'
    assert api.call("PATCH", path, {"name": "One"}, headers={"If-Match": etag}).status_code == 200
    stale = api.call("PATCH", path, {"name": "Two"}, headers={"If-Match": etag})
    assert error_of(stale) == (412, "precondition_failed")
    assert User.objects.get(pk=ada.pk).name == "One"
    assert error_of(api.call("DELETE", path, headers={"If-Match": etag})) == (
        412,
        "precondition_failed",
    )
    assert api.call("PATCH", path, {"name": "Three"}, headers={"If-Match": "*"}).status_code == 200


def test_app_metadata_only_scope(tenant: Tenant, ada: User) -> None:
    api = make_api(tenant, "update:users_app_metadata")
    response = api.call("PATCH", f"/users/{ada.user_id}", {"app_metadata": {"plan": "team"}})
    assert response.status_code == 200 and response.json()["app_metadata"] == {"plan": "team"}


def test_get_delete_and_by_email(api: Api, ada: User, tenant: Tenant) -> None:
    got = api.get(f"/users/{ada.user_id}", fields="email")
    assert got.json() == {"user_id": ada.user_id, "email": "ada@acme.test"}
    assert [u["user_id"] for u in api.get("/users-by-email", email="ADA@acme.test").json()] == [
        ada.user_id
    ]
    assert error_of(api.get("/users-by-email")) == (400, "invalid_query_string")
    assert api.call("DELETE", f"/users/{ada.user_id}").status_code == 204
    assert error_of(api.get(f"/users/{ada.user_id}")) == (404, "inexistent_user")
    [event] = events(tenant, action="user.delete")
    assert event.actor == "api_client:app"


def test_rate_limit(api: Api, settings: Any, ada: User) -> None:
    settings.API_RATE_LIMIT_BURST = 3
    settings.API_RATE_LIMIT_PER_SECOND = 0.01
    seen = [api.get("/users") for _ in range(4)]
    assert [r.status_code for r in seen] == [200, 200, 200, 429]
    assert [r["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0", "0"]
    assert {r["X-RateLimit-Limit"] for r in seen} == {"3"}
    assert error_of(seen[3]) == (429, "too_many_requests")
    assert int(seen[3]["Retry-After"]) >= 1
    # Another client has its own bucket.
    other = make_api(ada.tenant, name="other")
    assert other.get("/users").status_code == 200


def test_openapi_is_served(client: Any) -> None:
    schema = client.get("/api/v2/openapi.json").json()
    assert {"/api/v2/users", "/api/v2/users/{id}", "/api/v2/users-by-email"} <= set(schema["paths"])
    assert {"/api/v2/jobs/users-exports", "/api/v2/jobs/users-imports"} <= set(schema["paths"])


def test_unknown_routes_and_methods_get_the_api_error_body(api: Api) -> None:
    assert error_of(api.get("/nope")) == (404, "inexistent_endpoint")
    wrong = api.call("PUT", "/users", {"a": 1})
    assert error_of(wrong) == (405, "method_not_allowed")
    assert set(wrong["Allow"].split(", ")) == {"GET", "POST"} and "X-RateLimit-Limit" in wrong


def test_a_crash_is_a_500_in_the_api_shape(
    api: Api, ada: User, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("users.api.users.search_users", broken)
    assert error_of(api.get("/users")) == (500, "internal_error")
    assert "a bug" in caplog.text


def test_a_multipart_body_without_a_boundary_is_400(api: Api) -> None:
    """Found by schemathesis: Django cannot parse it, and that is the client's error."""
    response = api.client.post(
        "/api/v2/jobs/users-imports",
        data=b"",
        content_type="multipart/form-data",
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert error_of(response) == (400, "invalid_body")


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/users", {"connection": "a\u0000b", "email": "a@x.test"}, 400, "invalid_body"),
        ("GET", "/users/auth0%7Ca%00b", None, 404, "inexistent_user"),
        ("GET", "/users-by-email?email=a%00b", None, 400, "invalid_query_string"),
        (
            "POST",
            "/jobs/users-exports",
            {"fields": [{"name": "user_metadata.a\u0000"}]},
            400,
            "invalid_body",
        ),
        ("POST", "/jobs/users-exports", {"connection_id": "c\u0000"}, 400, "invalid_body"),
    ],
)
def test_nul_characters_are_refused_not_sent_to_the_database(
    api: Api, method: str, path: str, body: Any, status: int, code: str
) -> None:
    """Found by schemathesis on PostgreSQL, which cannot even compare a string with NUL."""
    assert error_of(api.call(method, path, body)) == (status, code)
