"""Factories that build through the write path, so test data is what production makes."""

from __future__ import annotations

from typing import Any

import factory
from django.contrib.auth.models import User as StaffAccount

from users import services
from users.audit import Actor, Context
from users.models import ActorKind, Channel, Tenant, User

FACTORY_CONTEXT = Context(actor=Actor(ActorKind.SYSTEM, "", "factory"), channel=Channel.CLI)
STAFF_PASSWORD = "correct horse battery staple"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    plan = "free"

    @classmethod
    def _create(cls, model_class: type[Tenant], *args: Any, **kwargs: Any) -> Tenant:
        tenant = services.tenant_create(
            slug=kwargs.pop("slug"), plan=kwargs.pop("plan"), by=FACTORY_CONTEXT
        )
        if kwargs:
            for key, value in kwargs.items():
                setattr(tenant, key, value)
            services.tenant_update(tenant=tenant, changed=list(kwargs), by=FACTORY_CONTEXT)
        return tenant


class UserFactory(factory.Factory):
    class Meta:
        model = dict

    tenant = factory.SubFactory(TenantFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.com")

    @classmethod
    def _create(cls, model_class: type[Any], *args: Any, **kwargs: Any) -> User:
        tenant = kwargs.pop("tenant")
        return services.user_create(tenant=tenant, body=kwargs, by=FACTORY_CONTEXT)


class StaffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffAccount
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}@staff.test")
    email = factory.LazyAttribute(lambda staff: staff.username)
    password = factory.PostGenerationMethodCall("set_password", STAFF_PASSWORD)
