"""Self-service: an end user's own access token (from POST /oauth/token, audience
`<issuer>api/v2/`, the current-user scopes) on GET and PATCH /users/{their id}, by the path
form and at the root of a tenant's domain; every refusal changing nothing; mda_ API clients
unchanged on both mounts; auth0-python's ManagementClient with the end user's token; and a
property: no PATCH with an end user's token and no sign-up ever changes app_metadata."""

from __future__ import annotations

import base64
import json
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws

from tests.api.conftest import make_api
from tests.factories import FACTORY_CONTEXT
from tests.helpers import events
from users import services
from users.api import self_service
from users.auth import keys
from users.auth.token import CURRENT_USER_SCOPES, PASSWORD_REALM
from users.models import Application, RateBucket, Tenant, User

pytestmark = pytest.mark.django_db

DB = "Username-Password-Authentication"
PASSWORD = "Correct-horse-9"
ALL = " ".join(CURRENT_USER_SCOPES)


@pytest.fixture(autouse=True)
def _no_rate_limit_in_the_way(settings: Any) -> None:
    settings.API_RATE_LIMIT_BURST = 100_000


def make_app(tenant: Tenant) -> tuple[Application, str]:
    application, secret = services.application_create(
        tenant=tenant, name="spa", by=FACTORY_CONTEXT, grant_types=[PASSWORD_REALM]
    )
    assert secret is not None
    return application, secret


def make_user(tenant: Tenant, email: str, **body: Any) -> User:
    return services.user_create(
        tenant=tenant,
        body={"connection": DB, "email": email, "password": PASSWORD, **body},
        by=FACTORY_CONTEXT,
    )


@pytest.fixture
def app(tenant: Tenant) -> tuple[Application, str]:
    return make_app(tenant)


@pytest.fixture
def ada(tenant: Tenant) -> User:
    return make_user(
        tenant, "ada@x.test", user_metadata={"color": "blue"}, app_metadata={"plan": "pro"}
    )


@pytest.fixture
def bob(tenant: Tenant) -> User:
    return make_user(tenant, "bob@x.test", app_metadata={"roles": ["admin"]})


def sign_in(
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    *,
    email: str = "ada@x.test",
    scope: str = ALL,
    host: str | None = None,
) -> str:
    """An access token for the tenant's Management API, as an SPA would ask for it."""
    application, secret = app
    root = f"https://{host}/" if host else f"https://testserver/tenants/{tenant.slug}/"
    response = client.post(
        "/oauth/token" if host else f"/tenants/{tenant.slug}/oauth/token",
        {
            "grant_type": PASSWORD_REALM,
            "client_id": application.client_id,
            "client_secret": secret,
            "username": email,
            "password": PASSWORD,
            "realm": DB,
            "audience": f"{root}api/v2/",
            "scope": f"openid {scope}",
        },
        headers={"Host": host} if host else None,
    )
    assert response.status_code == 200, response.content
    token: str = response.json()["access_token"]
    return token


def call(
    client: Client,
    token: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    slug: str | None = "acme",
    headers: dict[str, str] | None = None,
    host: str | None = None,
) -> Any:
    prefix = f"/tenants/{slug}/api/v2" if slug else "/api/v2"
    return client.generic(
        method,
        prefix + path,
        data=json.dumps(body) if body is not None else b"",
        content_type="application/json",
        headers={
            "Authorization": f"Bearer {token}",
            **({"Host": host} if host else {}),
            **(headers or {}),
        },
    )


def snapshot(user: User) -> tuple[Any, ...]:
    user.refresh_from_db()
    return (
        user.version,
        user.user_metadata,
        user.app_metadata,
        user.email,
        user.blocked,
        user.password,
        user.name,
    )


def test_the_scopes_are_those_sign_in_grants() -> None:
    assert set(self_service.CURRENT_USER_SCOPES) == set(CURRENT_USER_SCOPES)


def test_an_end_user_reads_and_changes_their_own_user_metadata(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    token = sign_in(client, tenant, app)
    got = call(client, token, "GET", f"/users/{ada.user_id}")  # a literal |, as auth0.js sends
    assert got.status_code == 200, got.content
    body = got.json()
    assert body["user_id"] == ada.user_id and body["user_metadata"] == {"color": "blue"}
    assert body["app_metadata"] == {"plan": "pro"}
    etag = got["ETag"]
    assert int(got["X-RateLimit-Limit"]) > 0
    assert RateBucket.objects.filter(key=f"end_user:{tenant.pk}:{ada.user_id}").exists()

    patched = call(
        client,
        token,
        "PATCH",
        f"/users/{quote(ada.user_id, safe='')}",  # %7C too
        {"user_metadata": {"theme": "dark", "color": "green"}},
        headers={"If-Match": etag},
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["user_metadata"] == {"color": "green", "theme": "dark"}
    assert patched["ETag"] != etag
    ada.refresh_from_db()
    assert ada.user_metadata == {"color": "green", "theme": "dark"}
    assert ada.app_metadata == {"plan": "pro"}
    event = events(tenant, target_pk=ada.pk)[-1]
    assert (event.actor_kind, event.actor_id, event.channel) == (
        "end_user",
        ada.user_id,
        "profile",
    )

    stale = call(
        client,
        token,
        "PATCH",
        f"/users/{ada.user_id}",
        {"user_metadata": {"theme": "light"}},
        headers={"If-Match": etag},
    )
    assert stale.status_code == 412 and stale.json()["errorCode"] == "precondition_failed"
    removed = call(client, token, "PATCH", f"/users/{ada.user_id}", {"user_metadata": {"x": None}})
    assert removed.status_code == 200 and removed.json()["user_metadata"]["theme"] == "dark"
    gone = call(client, token, "PATCH", f"/users/{ada.user_id}", {"user_metadata": {"theme": None}})
    assert gone.status_code == 200 and gone.json()["user_metadata"] == {"color": "green"}


def test_another_users_id_is_403(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User, bob: User
) -> None:
    token = sign_in(client, tenant, app)
    before = snapshot(bob)
    for method, body in (("GET", None), ("PATCH", {"user_metadata": {"a": "b"}})):
        response = call(client, token, method, f"/users/{bob.user_id}", body)
        assert response.status_code == 403, response.content
        assert response.json()["errorCode"] == "insufficient_scope"
        assert "does not match subject" in response.json()["message"]
    assert call(client, token, "GET", "/users/auth0|nobody").status_code == 403
    assert snapshot(bob) == before


@pytest.mark.parametrize(
    "body",
    [
        {"app_metadata": {"plan": "free"}},
        {"app_metadata": {}},
        {"email": "eve@x.test"},
        {"email": 5},  # refused for its property before its type is even looked at
        {"blocked": True},
        {"password": "Another-horse-7"},
        {"name": "Eve"},
        {"user_metadata": {"color": "red"}, "app_metadata": {"plan": "free"}},
        {"user_metadata": {"color": "red"}, "verify_email": True},
    ],
)
def test_any_other_property_is_403_and_changes_nothing(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User, body: Any
) -> None:
    token = sign_in(client, tenant, app)
    before = snapshot(ada)
    response = call(client, token, "PATCH", f"/users/{ada.user_id}", body)
    assert response.status_code == 403, response.content
    answer = response.json()
    assert answer["errorCode"] == "insufficient_scope" and answer["statusCode"] == 403
    assert "update:users" in answer["message"]
    assert snapshot(ada) == before


def test_the_write_path_still_refuses_app_metadata_from_the_end_user(
    tenant: Tenant, ada: User, rf: Any
) -> None:
    with pytest.raises(services.ServiceError):
        services.user_update(
            user=ada,
            body={"app_metadata": {"plan": "free"}},
            by=self_service.context(rf.patch("/"), ada),
        )


def test_each_scope_is_needed(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    path = f"/users/{ada.user_id}"
    read_only = sign_in(client, tenant, app, scope="read:current_user")
    assert call(client, read_only, "GET", path).status_code == 200
    refused = call(client, read_only, "PATCH", path, {"user_metadata": {"color": "red"}})
    assert refused.status_code == 403 and refused.json()["errorCode"] == "insufficient_scope"
    assert "update:current_user_metadata" in refused.json()["message"]

    update_only = sign_in(client, tenant, app, scope="update:current_user_metadata")
    assert call(client, update_only, "GET", path).status_code == 403  # no read:current_user
    before = snapshot(ada)
    for change, needed in (
        ({"theme": "dark"}, "create:current_user_metadata"),  # a new key
        ({"color": None}, "delete:current_user_metadata"),  # removing one
        ({}, "delete:current_user_metadata"),  # clearing the tier
    ):
        response = call(client, update_only, "PATCH", path, {"user_metadata": change})
        assert response.status_code == 403 and needed in response.json()["message"]
    assert snapshot(ada) == before
    changed = call(client, update_only, "PATCH", path, {"user_metadata": {"color": "red"}})
    assert changed.status_code == 200 and changed.json()["user_metadata"] == {"color": "red"}


def test_an_end_user_token_is_refused_on_every_other_endpoint(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    token = sign_in(client, tenant, app)
    for method, path, body in (
        ("GET", "/users", None),
        ("POST", "/users", {"connection": DB, "email": "new@x.test", "password": PASSWORD}),
        ("DELETE", f"/users/{ada.user_id}", None),
        ("GET", "/users-by-email?email=ada@x.test", None),
        ("POST", "/jobs/users-exports", {"format": "json"}),
        ("GET", "/jobs/job_1", None),
    ):
        response = call(client, token, method, path, body)
        assert response.status_code == 403, (method, path, response.content)
        assert response.json()["errorCode"] == "insufficient_scope"
    assert User.objects.filter(tenant=tenant).count() == 1


def test_a_token_of_another_tenant_is_401(
    client: Client, tenant: Tenant, paid_tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    make_user(paid_tenant, "ada@x.test")
    theirs = sign_in(client, paid_tenant, make_app(paid_tenant))
    before = snapshot(ada)
    for method, body in (("GET", None), ("PATCH", {"user_metadata": {"x": "y"}})):
        response = call(client, theirs, method, f"/users/{ada.user_id}", body, slug="acme")
        assert response.status_code == 401, response.content
        assert response.json()["errorCode"] == "invalid_token"
    # A tenant that does not exist is no better.
    assert call(client, theirs, "GET", f"/users/{ada.user_id}", slug="nope").status_code == 401
    assert snapshot(ada) == before


def _claims(tenant: Tenant, user: User, **changes: Any) -> dict[str, Any]:
    iss = f"https://testserver/tenants/{tenant.slug}/"
    now = int(time.time())
    return {
        "iss": iss,
        "sub": user.user_id,
        "aud": [f"{iss}api/v2/", f"{iss}userinfo"],
        "iat": now,
        "exp": now + 600,
        "scope": ALL,
        **changes,
    }


def test_an_expired_tampered_or_foreign_token_is_401(
    client: Client, tenant: Tenant, paid_tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    path = f"/users/{ada.user_id}"
    good = keys.sign(tenant, _claims(tenant, ada))
    assert call(client, good, "GET", path).status_code == 200
    long_ago = int(time.time()) - 7200
    header, payload, signature = sign_in(client, tenant, app).split(".")
    forged = json.loads(jws.extract_compact(good.encode()).payload)
    forged["scope"] = "read:users"
    forged_payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    for token in (
        keys.sign(tenant, _claims(tenant, ada, exp=long_ago, iat=long_ago - 60)),  # expired
        f"{header}.{forged_payload}.{signature}",  # tampered
        f"{header}.{payload}.{signature[:-4]}AAAA",  # bad signature
        keys.sign(paid_tenant, _claims(tenant, ada)),  # another tenant's key, acme's iss
        keys.sign(tenant, _claims(tenant, ada, aud="https://testserver/tenants/acme/userinfo")),
        keys.sign(tenant, _claims(tenant, ada, iss="https://evil.test/")),
        "not.a.jwt",
        "mda_unknown",
    ):
        for method, body in (("GET", None), ("PATCH", {"user_metadata": {"x": "y"}})):
            response = call(client, token, method, path, body)
            assert response.status_code == 401, (token, response.content)
            assert response.json()["errorCode"] == "invalid_token"
    assert ada.version == User.objects.get(pk=ada.pk).version


def test_api_clients_work_as_before_on_both_mounts(
    client: Client, tenant: Tenant, ada: User
) -> None:
    api = make_api(tenant)
    for slug in (None, "acme"):
        got = call(client, api.token, "GET", f"/users/{ada.user_id}", slug=slug)
        assert got.status_code == 200 and got.json()["app_metadata"]["plan"] == "pro"
        patched = call(
            client,
            api.token,
            "PATCH",
            f"/users/{ada.user_id}",
            {"app_metadata": {"n": slug or "root"}},
            slug=slug,
        )
        assert patched.status_code == 200, patched.content
        assert patched.json()["app_metadata"]["n"] == (slug or "root")
        assert call(client, api.token, "GET", "/users", slug=slug).status_code == 200
    event = events(tenant, target_pk=ada.pk)[-1]
    assert (event.actor_kind, event.channel) == ("api_client", "api")
    assert client.get("/api/v2/openapi.json").status_code == 200
    assert client.get("/tenants/acme/api/v2/nothing").json()["errorCode"] == "inexistent_endpoint"


def test_at_the_root_of_a_tenants_domain(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User, settings: Any
) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "login.acme.test"]
    tenant.domain = "login.acme.test"
    services.tenant_update(tenant=tenant, changed=["domain"], by=FACTORY_CONTEXT)
    token = sign_in(client, tenant, app, host="login.acme.test")
    path = f"/users/{ada.user_id}"
    got = call(client, token, "GET", path, slug=None, host="login.acme.test")
    assert got.status_code == 200, got.content
    patched = call(
        client,
        token,
        "PATCH",
        path,
        {"user_metadata": {"a": "b"}},
        slug=None,
        host="login.acme.test",
    )
    assert patched.status_code == 200 and patched.json()["user_metadata"]["a"] == "b"
    # Its audience is the domain's API: not the path form's, and not a host of no tenant.
    assert call(client, token, "GET", path).status_code == 401
    assert call(client, token, "GET", path, slug=None).status_code == 401
    path_form = sign_in(client, tenant, app)
    assert (
        call(client, path_form, "GET", path, slug=None, host="login.acme.test").status_code == 401
    )


class _HttpsToHttp(httpx.HTTPTransport):
    """The SDK always says https; the live server speaks plain http."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http")
        return super().handle_request(request)


@pytest.mark.django_db(transaction=True)
def test_auth0_pythons_management_client_with_the_end_users_token(
    live_server: Any, tenant: Tenant, settings: Any
) -> None:
    from auth0.authentication import GetToken
    from auth0.management import ManagementClient
    from auth0.management.core.api_error import ApiError as SdkError

    application, secret = make_app(tenant)
    ada = make_user(tenant, "ada@x.test", user_metadata={"color": "blue"}, app_metadata={"p": 1})
    bob = make_user(tenant, "bob@x.test")
    domain = f"{live_server.url.removeprefix('http://')}/tenants/{tenant.slug}"
    answer = GetToken(domain, application.client_id, client_secret=secret, protocol="http").login(
        username="ada@x.test",
        password=PASSWORD,
        realm=DB,
        scope=f"openid {ALL}",
        audience=f"https://{domain}/api/v2/",
    )
    sdk = ManagementClient(
        domain=domain,
        token=answer["access_token"],
        httpx_client=httpx.Client(transport=_HttpsToHttp()),
    )
    me = sdk.users.get(ada.user_id)
    assert me.email == "ada@x.test" and dict(me.user_metadata or {}) == {"color": "blue"}
    updated = sdk.users.update(ada.user_id, user_metadata={"theme": "dark"})
    assert dict(updated.user_metadata or {}) == {"color": "blue", "theme": "dark"}

    for attempt in (
        lambda: sdk.users.update(ada.user_id, app_metadata={"p": 2}),
        lambda: sdk.users.update(ada.user_id, email="eve@x.test"),
        lambda: sdk.users.update(ada.user_id, blocked=True),
        lambda: sdk.users.get(bob.user_id),
        lambda: sdk.users.update(bob.user_id, user_metadata={"x": "y"}),
        lambda: sdk.users.delete(ada.user_id),
    ):
        with pytest.raises(SdkError) as refused:
            attempt()
        assert refused.value.status_code == 403
        assert refused.value.body["errorCode"] == "insufficient_scope"
    ada.refresh_from_db()
    assert ada.app_metadata == {"p": 1} and ada.email == "ada@x.test" and not ada.blocked
    with pytest.raises(SdkError) as expired:
        ManagementClient(
            domain=domain, token="a.b.c", httpx_client=httpx.Client(transport=_HttpsToHttp())
        ).users.get(ada.user_id)
    assert expired.value.status_code == 401


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text("abk", min_size=1, max_size=2), children, max_size=3)
    ),
    max_leaves=10,
)
ROOT_KEYS = st.sampled_from(
    [
        "app_metadata",
        "user_metadata",
        "email",
        "blocked",
        "password",
        "name",
        "connection",
        "verify_email",
        "user_id",
    ]
) | st.text(max_size=6)
BODIES = st.dictionaries(ROOT_KEYS, JSON, max_size=3) | st.fixed_dictionaries(
    {"user_metadata": st.dictionaries(st.text("abk", min_size=1, max_size=2), JSON, max_size=3)}
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    patches=st.lists(st.tuples(st.booleans(), BODIES), min_size=1, max_size=3),
    signup=st.dictionaries(ROOT_KEYS, JSON, max_size=3),
    signup_email=st.sampled_from(["ada@x.test", "new@x.test", "other@x.test"]),
)
def test_no_end_user_request_changes_app_metadata(
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    bob: User,
    patches: list[tuple[bool, dict[str, Any]]],
    signup: dict[str, Any],
    signup_email: str,
) -> None:
    client = Client()
    token = sign_in(client, tenant, app)
    before = dict(User.objects.filter(tenant=tenant).values_list("user_id", "app_metadata"))
    for own, body in patches:
        target = ada if own else bob
        response = call(client, token, "PATCH", f"/users/{quote(target.user_id)}", body)
        assert response.status_code < 500, response.content
        if set(body) - {"user_metadata"} or not own:
            assert response.status_code == 403
    sign_up_body = {
        **signup,
        "client_id": app[0].client_id,
        "connection": DB,
        "email": signup_email,
        "password": PASSWORD,
    }
    response = client.post(
        f"/tenants/{tenant.slug}/dbconnections/signup",
        json.dumps(sign_up_body),
        content_type="application/json",
    )
    assert response.status_code < 500, response.content
    after = dict(User.objects.filter(tenant=tenant).values_list("user_id", "app_metadata"))
    assert {key: after[key] for key in before} == before
    assert all(after[key] == {} for key in set(after) - set(before))
