"""Factories that build through the write path, so test data is what production makes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User as StaffAccount
from factory import declarations
from factory.base import Factory
from factory.django import DjangoModelFactory, Password

from users import services
from users.audit import Actor, Context
from users.models import ActorKind, Channel, Tenant, User

FACTORY_CONTEXT = Context(actor=Actor(ActorKind.SYSTEM, "", "factory"), channel=Channel.CLI)
STAFF_PASSWORD = "correct horse battery staple"


class TenantFactory(DjangoModelFactory[Tenant]):
    class Meta:
        model = Tenant

    slug = declarations.Sequence(lambda n: f"tenant-{n}")
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


class UserFactory(Factory[User]):
    """Keyword arguments other than `tenant` are the body of `services.user_create`."""

    class Meta:
        model = User

    tenant = declarations.SubFactory(TenantFactory)
    email = declarations.Sequence(lambda n: f"user{n}@example.com")

    @classmethod
    def _create(cls, model_class: type[User], *args: Any, **kwargs: Any) -> User:
        tenant = kwargs.pop("tenant")
        return services.user_create(tenant=tenant, body=kwargs, by=FACTORY_CONTEXT)


class StaffFactory(DjangoModelFactory[StaffAccount]):
    class Meta:
        model = StaffAccount
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = declarations.Sequence(lambda n: f"staff{n}@staff.test")
    email = declarations.LazyAttribute(lambda staff: staff.username)
    password = Password(STAFF_PASSWORD)
