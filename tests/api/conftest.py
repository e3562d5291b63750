"""The Management API's test helpers: a client of the API with a token and its scopes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from tests.factories import FACTORY_CONTEXT
from users import services
from users.models import Scope, Tenant

ALL_SCOPES = tuple(Scope.values)


@dataclass
class Api:
    """Calls /api/v2/ with a bearer token, as an SDK would."""

    client: Client
    token: str

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        return self.client.generic(
            method,
            f"/api/v2{path}",
            data=data or b"",
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.token}", **(headers or {})},
        )

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(
            f"/api/v2{path}", params, headers={"Authorization": f"Bearer {self.token}"}
        )


def make_api(tenant: Tenant, *scopes: str, name: str = "app") -> Api:
    _, token = services.api_client_create(
        tenant=tenant, name=name, scopes=scopes or ALL_SCOPES, by=FACTORY_CONTEXT
    )
    return Api(Client(), token)


@pytest.fixture
def api(tenant: Tenant) -> Api:
    """A client of the free tenant "acme" with every scope."""
    return make_api(tenant)


@pytest.fixture
def paid_api(paid_tenant: Tenant) -> Api:
    return make_api(paid_tenant)
