"""The users page: search as you type, sort, page; per STYLE.md's view checklist."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from tests.factories import FACTORY_CONTEXT, UserFactory
from users import services
from users.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(tenant: Tenant) -> str:
    return reverse("users:user_list", args=[tenant.slug])


@pytest.fixture
def people(tenant: Tenant) -> None:
    UserFactory.create(
        tenant=tenant, email="ada@acme.test", name="Ada", user_metadata={"theme": "dark"}
    )
    UserFactory.create(
        tenant=tenant, email="grace@globex.test", name="Grace", user_metadata={"theme": "light"}
    )
    UserFactory.create(
        tenant=tenant, email="alan@acme.test", name="Alan", app_metadata={"plan": "pro"}
    )


def test_viewer_sees_the_page_with_all_users(
    client: Client, viewer: StaffAccount, url: str, people: None
) -> None:
    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page and 'id="user-table"' in page
    assert "ada@acme.test" in page and "grace@globex.test" in page
    assert "3 users" in page
    assert "Query syntax" in page


def test_search_filters_and_keeps_the_query(
    client: Client, viewer: StaffAccount, url: str, people: None
) -> None:
    client.force_login(viewer)
    page = client.get(url, {"q": "user_metadata.theme:dark"}).content.decode()
    assert "ada@acme.test" in page and "grace@globex.test" not in page
    assert 'value="user_metadata.theme:dark"' in page
    assert "1 user match" in page


def test_htmx_gets_only_the_table(
    client: Client, viewer: StaffAccount, url: str, people: None
) -> None:
    client.force_login(viewer)
    response = client.get(url, {"q": "email:*@acme.test"}, headers={"HX-Request": "true"})
    fragment = response.content.decode()
    assert response.status_code == 200
    assert fragment.lstrip().startswith('<section id="user-table"')
    assert "<html" not in fragment
    assert "ada@acme.test" in fragment and "grace@globex.test" not in fragment


def test_a_bad_query_is_shown_inline_with_its_position(
    client: Client, viewer: StaffAccount, url: str
) -> None:
    client.force_login(viewer)
    response = client.get(url, {"q": "name:(ada"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    fragment = response.content.decode()
    assert 'role="alert"' in fragment and "Syntax error at position 9" in fragment
    assert "         ^" in fragment


def test_free_tenant_shows_the_plan_gate(
    client: Client, viewer: StaffAccount, url: str, people: None
) -> None:
    client.force_login(viewer)
    page = client.get(url, {"q": "app_metadata.plan:pro"}).content.decode()
    assert "Upgrade needed." in page
    assert "Essentials plan or higher" in page
    assert "Ask an owner" in page
    services.tenant_set_plan(
        tenant=Tenant.objects.get(slug="acme"), plan="professional", by=FACTORY_CONTEXT
    )
    page = client.get(url, {"q": "app_metadata.plan:pro"}).content.decode()
    assert "alan@acme.test" in page and "Upgrade needed." not in page


def test_sortable_columns_and_cursor_paging(
    client: Client, viewer: StaffAccount, url: str, tenant: Tenant
) -> None:
    services.user_bulk_create(
        tenant=tenant, bodies=[{"email": f"u{i:03d}@x.test"} for i in range(60)], by=FACTORY_CONTEXT
    )
    client.force_login(viewer)
    first = client.get(url, {"sort": "email:1"})
    page = first.content.decode()
    assert "u000@x.test" in page and "u050@x.test" not in page
    assert 'aria-sort="ascending"' in page
    next_url = first.context["next_url"]
    assert next_url
    second = client.get(next_url).content.decode()
    assert "u050@x.test" in second and "u000@x.test" not in second
    assert "First page" in second


def test_anonymous_is_sent_to_sign_in(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_expired_session_on_htmx_gets_a_client_redirect(client: Client, url: str) -> None:
    response = client.get(url, {"q": "x"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/login/")


def test_outsider_gets_404(client: Client, outsider: StaffAccount, url: str) -> None:
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert client.get(reverse("users:user_list", args=["no-such-tenant"])).status_code == 404


def test_only_get(client: Client, viewer: StaffAccount, url: str) -> None:
    client.force_login(viewer)
    assert client.post(url).status_code == 405


def test_user_values_are_escaped(
    client: Client, viewer: StaffAccount, url: str, tenant: Tenant
) -> None:
    UserFactory.create(tenant=tenant, email="x@x.test", name="<script>alert(1)</script>")
    client.force_login(viewer)
    page = client.get(url).content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
