"""Production posture: `check --deploy` is clean with the environment the README documents,
HTTPS is switched on by that environment, every response the application makes carries the
Content-Security-Policy and `Cache-Control: no-store`, and CSV says it is UTF-8."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import User as StaffAccount
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.api.conftest import make_api
from tests.factories import UserFactory
from users.models import Job, Tenant, User

BASE_DIR = Path(django_settings.BASE_DIR)

# The production environment of README.md ("Production"), with made-up secrets and host.
PRODUCTION_ENV = {
    "DEBUG": "False",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "AUDIT_CHAIN_KEY": secrets.token_urlsafe(50),
    "SIGNING_KEYS_SECRET": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "admin.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://admin.example.com",
    "SECURE_COOKIES": "True",
    "SECURE_SSL_REDIRECT": "True",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True",
    "SECURE_HSTS_PRELOAD": "True",
    "BEHIND_PROXY": "True",
}

EXPECTED_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def process_env(env: dict[str, str]) -> dict[str, str]:
    """This process's environment with `env` on top, less what only tests set: the project's
    own settings module (not the test suite's), and no DJANGO_ALLOW_ASYNC_UNSAFE (the browser
    tests allow Django's sync calls from async code, which a deployment must not)."""
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {**inherited, "DJANGO_SETTINGS_MODULE": "metadata_admin.settings", **env}


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a fresh process, so the settings are read from this environment."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def settings_under(env: dict[str, str], *names: str) -> dict[str, Any]:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}))"
    )
    done = run_manage(env, "shell", "-c", code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def policy_of(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split("; ") if part.strip()}


# --- the deployment check and the environment ------------------------------------------------


def test_check_deploy_is_clean_with_the_production_environment() -> None:
    done = run_manage(PRODUCTION_ENV, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_without_the_https_variables_check_deploy_says_so() -> None:
    """It is the environment that switches HTTPS on: leave it out and the check fails."""
    env = {**PRODUCTION_ENV, "SECURE_SSL_REDIRECT": "False", "SECURE_HSTS_SECONDS": "0"}
    done = run_manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert done.returncode != 0
    assert "security.W004" in done.stderr and "security.W008" in done.stderr


def test_the_production_environment_becomes_these_settings() -> None:
    names = [
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "CSRF_TRUSTED_ORIGINS",
    ]
    assert settings_under(PRODUCTION_ENV, *names) == {
        "DEBUG": False,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "CSRF_TRUSTED_ORIGINS": ["https://admin.example.com"],
    }
    # Not behind a proxy: X-Forwarded-Proto is not believed. Local use: no redirect, no HSTS.
    local = {
        "DEBUG": "True",
        "SECRET_KEY": "local",
        "SECURE_SSL_REDIRECT": "",  # empty is off, as in .env.example
        "SECURE_HSTS_SECONDS": "0",
        "BEHIND_PROXY": "",
    }
    assert settings_under(
        local, "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER"
    ) == {"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0, "SECURE_PROXY_SSL_HEADER": None}


def test_https_redirect_and_hsts(client: Client, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    plain = client.get("/accounts/login/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/accounts/login/"
    secure = client.get("/accounts/login/", headers={"X-Forwarded-Proto": "https"})
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


# --- headers on what the application answers --------------------------------------------------


@pytest.fixture
def people(tenant: Tenant) -> None:
    UserFactory.create(tenant=tenant, email="p0@x.test", name="Zoë Ünicode")
    UserFactory.create(tenant=tenant, email="p1@x.test", user_metadata={"city": "Zürich"})


def assert_not_stored(response: Any) -> None:
    assert response["Cache-Control"] == "no-store", response.get("Cache-Control")


# Inline script, an `on…=` handler or a style attribute: what the policy would refuse.
INLINE = re.compile(
    r"<script(?![^>]*\ssrc=)[^>]*>|<[a-z][^>]*\s(?:on[a-z]+|style)\s*=", re.IGNORECASE
)


@pytest.mark.django_db
def test_console_pages_carry_the_policy_and_are_not_stored(
    client: Client, owner: StaffAccount, tenant: Tenant, people: None, jobs_run_now: Path
) -> None:
    signed_out = client.get("/accounts/login/")
    assert signed_out.status_code == 200
    assert policy_of(signed_out) == EXPECTED_POLICY
    assert_not_stored(signed_out)

    client.force_login(owner)
    client.post(reverse("users:export_start", args=[tenant.slug]), {"format": "csv"})
    job = Job.objects.get()
    user_id = User.objects.get(tenant=tenant, email="p0@x.test").user_id
    slug = tenant.slug
    pages = [
        reverse("users:home"),
        reverse("users:dashboard", args=[slug]),
        reverse("users:user_list", args=[slug]) + "?q=email:*",
        reverse("users:user_detail", args=[slug, user_id]),
        reverse("users:audit_log", args=[slug]),
        reverse("users:user_export", args=[slug]),
        reverse("users:import_start", args=[slug]),
        reverse("users:bulk_edit", args=[slug]) + "?q=email:*",
        reverse("users:job_list", args=[slug]),
        reverse("users:job_detail", args=[slug, job.pk]),
        reverse("users:api_clients", args=[slug]),
        reverse("users:tenant_settings", args=[slug]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert policy_of(response) == EXPECTED_POLICY, url
        assert_not_stored(response)
        assert INLINE.search(response.content.decode()) is None, url
    # An htmx fragment (the users table) too.
    fragment = client.get(pages[2], headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "user-table" in fragment.content.decode()
    assert_not_stored(fragment)


@pytest.mark.django_db
def test_downloads_are_utf8_csv_and_not_stored(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, people: None, jobs_run_now: Path
) -> None:
    client.force_login(admin_staff)
    slug = tenant.slug
    csv_download = client.get(reverse("users:user_export", args=[slug]), {"format": "csv"})
    assert csv_download["Content-Type"] == "text/csv; charset=utf-8"
    assert_not_stored(csv_download)
    assert "Zoë Ünicode" in b"".join(csv_download.streaming_content).decode("utf-8")  # type: ignore[attr-defined]
    ndjson = client.get(reverse("users:user_export", args=[slug]), {"format": "ndjson"})
    assert ndjson["Content-Type"] == "application/x-ndjson"
    assert_not_stored(ndjson)
    # Read to the end, as a server would: a stream left open keeps its transaction open.
    assert b"".join(ndjson.streaming_content)  # type: ignore[attr-defined]

    audit_csv = client.get(reverse("users:audit_log", args=[slug]), {"format": "csv"})
    assert audit_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert_not_stored(audit_csv)
    assert b"".join(audit_csv.streaming_content)  # type: ignore[attr-defined]

    client.post(reverse("users:export_start", args=[slug]), {"format": "csv"})
    export_job = Job.objects.get(kind=Job.Kind.EXPORT)
    job_file = client.get(reverse("users:job_download", args=[slug, export_job.pk]))
    assert job_file.status_code == 200
    assert job_file["Content-Type"] == "text/csv; charset=utf-8"
    assert_not_stored(job_file)

    refused_rows = json.dumps([{"email": "bad@x.test", "user_metadata": {"a.b": 1}}]).encode()
    client.post(
        reverse("users:import_start", args=[slug]),
        {
            "file": SimpleUploadedFile("people.json", refused_rows),
            "metadata_mode": "replace",
            "intent": "dry_run",
        },
    )
    import_job = Job.objects.get(kind=Job.Kind.IMPORT)
    errors_file = client.get(reverse("users:job_download", args=[slug, import_job.pk]))
    assert errors_file.status_code == 200
    assert_not_stored(errors_file)


@pytest.mark.django_db
def test_api_responses_are_not_stored(tenant: Tenant, people: None, jobs_run_now: Path) -> None:
    api = make_api(tenant)
    listed = api.get("/users", q="email:*")
    assert listed.status_code == 200
    assert_not_stored(listed)
    assert_not_stored(Client().get("/api/v2/users"))  # 401, no token
    assert_not_stored(api.get("/no-such-endpoint"))  # 404 from outside the API's handlers
    started = api.call("POST", "/jobs/users-exports", {"format": "csv"}).json()
    location = api.get(f"/jobs/{started['id']}").json()["location"]
    job_file = Client().get(location)  # always gzipped, as Auth0's
    assert job_file.status_code == 200
    assert job_file["Content-Type"] == "application/gzip"
    assert_not_stored(job_file)


def test_static_files_keep_their_caching(client: Client, settings: Any) -> None:
    settings.WHITENOISE_USE_FINDERS = True  # served as in production, without collectstatic
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
    assert "max-age" in response["Cache-Control"]
