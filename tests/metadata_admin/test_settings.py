"""The settings readers fail loudly on junk instead of guessing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from metadata_admin import settings as project_settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("True", True),
        ("true", True),
        ("1", True),
        ("on", True),
        ("False", False),
        ("0", False),
        ("no", False),
    ],
)
def test_env_bool_reads_the_usual_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("SOME_FLAG", raw)
    assert project_settings.env_bool("SOME_FLAG", default=not expected) is expected


def test_env_bool_refuses_junk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG must be True or False, not 'maybe'"):
        project_settings.env_bool("SOME_FLAG", default=False)


def test_env_int_and_list_and_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        project_settings.env_int("SOME_INT", 1)
    monkeypatch.setenv("SOME_LIST", " a.example , b.example,, ")
    assert project_settings.env_list("SOME_LIST") == ["a.example", "b.example"]
    monkeypatch.delenv("SOME_REQUIRED", raising=False)
    with pytest.raises(ImproperlyConfigured, match="Set the environment variable SOME_REQUIRED"):
        project_settings.env_str("SOME_REQUIRED")


def test_debug_is_off_in_tests_and_responses_carry_a_request_id(client: Client, settings) -> None:
    assert settings.DEBUG is False
    response = client.get("/accounts/login/", headers={"X-Request-ID": "abc-123"})
    assert response["X-Request-ID"] == "abc-123"
    junk = client.get("/accounts/login/", headers={"X-Request-ID": "<bad id>"})
    assert junk["X-Request-ID"] != "<bad id>"
    assert len(junk["X-Request-ID"]) == 32
