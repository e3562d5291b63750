"""The tenant-wide audit log page and its CSV download."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from tests.factories import FACTORY_CONTEXT, UserFactory
from users import services
from users.audit import Actor, Context
from users.models import AuditEvent, Tenant, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(tenant: Tenant) -> str:
    return reverse("users:audit_log", args=[tenant.slug])


@pytest.fixture
def history(user: User) -> None:
    by_console = Context(actor=Actor("staff", "9", "ops@staff.test"), channel="console")
    services.user_update(user=user, body={"user_metadata": {"hobby": "chess"}}, by=by_console)
    services.user_update(user=user, body={"name": "New"}, by=FACTORY_CONTEXT)
    formula = Context(actor=Actor("staff", "7", "=SUM(A1)"), channel="console")
    services.user_update(user=user, body={"name": "Newer"}, by=formula)


def test_viewer_reads_the_log_with_diffs(
    client: Client, viewer: StaffAccount, url: str, history: None
) -> None:
    client.force_login(viewer)
    page = client.get(url).content.decode()
    assert "user.update" in page and "user.create" in page and "tenant.create" in page
    assert "user_metadata.hobby" in page
    assert "Revert" not in page


@pytest.mark.parametrize(
    ("params", "present", "absent"),
    [
        ({"actor": "ops@"}, "user_metadata.hobby", "tenant.create"),
        ({"action": "tenant.create"}, "tenant.create", "user.update"),
        ({"channel": "console"}, "ops@staff.test", "tenant.create"),
        ({"since": "2999-01-01"}, "No changes match", "user.update"),
    ],
)
def test_filters(
    client: Client,
    viewer: StaffAccount,
    url: str,
    history: None,
    params: dict[str, str],
    present: str,
    absent: str,
) -> None:
    client.force_login(viewer)
    page = client.get(url, params, headers={"HX-Request": "true"}).content.decode()
    assert page.lstrip().startswith('<section id="audit-table"')
    assert present in page and absent not in page


def test_filter_by_user(
    client: Client, viewer: StaffAccount, url: str, user: User, history: None
) -> None:
    other = UserFactory.create(tenant=user.tenant, email="other@x.test")
    client.force_login(viewer)
    page = client.get(url, {"user": other.user_id}).content.decode()
    assert "other@x.test" in page and "user_metadata.hobby" not in page


def test_bad_filters_say_what(client: Client, viewer: StaffAccount, url: str) -> None:
    client.force_login(viewer)
    page = client.get(url, {"since": "2026-02-01", "until": "2026-01-01"}).content.decode()
    assert "must be on or before" in page
    assert "Enter a valid date" in client.get(url, {"since": "yesterday"}).content.decode()


def test_csv_download_is_filtered_and_safe(
    client: Client, viewer: StaffAccount, url: str, history: None
) -> None:
    client.force_login(viewer)
    response = client.get(url, {"action": "user.update", "format": "csv"})
    assert response["Content-Disposition"] == 'attachment; filename="audit-acme.csv"'
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][:6] == ["seq", "time", "actor_kind", "actor", "channel", "action"]
    assert {row[5] for row in rows[1:]} == {"user.update"}
    assert 'replace name "New" -> "Newer"' in [row[7] for row in rows[1:]]
    # A cell that starts like a formula is neutralized.
    assert "'=SUM(A1)" in [row[3] for row in rows[1:]]
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_paging_and_admin_revert_buttons(
    client: Client, admin_staff: StaffAccount, url: str, tenant: Tenant
) -> None:
    for i in range(55):
        UserFactory.create(tenant=tenant, email=f"p{i}@x.test")
    client.force_login(admin_staff)
    first = client.get(url)
    assert "Older changes" in first.content.decode() and "Revert" in first.content.decode()
    older = client.get(url + "?" + first.context["next_query"]).content.decode()
    assert "tenant.create" in older


def test_outsider_and_anonymous(client: Client, outsider: StaffAccount, url: str) -> None:
    assert client.get(url).status_code == 302
    client.force_login(outsider)
    assert client.get(url).status_code == 404


def test_a_deleted_user_can_be_restored_from_the_log(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    services.user_delete(user=user, by=FACTORY_CONTEXT)
    deletion = AuditEvent.objects.filter(tenant=user.tenant, action="user.delete").get()
    client.force_login(admin_staff)
    page = client.get(reverse("users:audit_log", args=[user.tenant.slug])).content.decode()
    assert reverse("users:event_revert", args=[user.tenant.slug, deletion.seq]) in page
    client.post(reverse("users:event_revert", args=[user.tenant.slug, deletion.seq]))
    assert User.objects.filter(tenant=user.tenant, user_id=user.user_id).exists()
