"""The field registry: which names a query may use, their types, case rules and plan gate."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from users import metadata
from users.models import Plan, SearchLeaf, Tenant
from users.search.errors import PlanRequired, UnknownField


class Kind(Enum):
    TEXT = "text"
    BOOLEAN = "boolean"
    NUMBER = "number"
    DATE = "date"
    IP = "ip"
    EMAIL_DOMAIN = "email_domain"
    IDENTITY = "identity"
    METADATA = "metadata"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    column: str = ""
    case_insensitive: bool = False
    tier: str = ""  # SearchLeaf.USER_METADATA / APP_METADATA, for metadata fields
    path: str = ""  # dotted path below the tier ("" for the whole tier)

    @property
    def is_metadata(self) -> bool:
        return self.kind is Kind.METADATA

    @property
    def sortable(self) -> bool:
        return self.kind in (Kind.TEXT, Kind.BOOLEAN, Kind.NUMBER, Kind.DATE, Kind.IP) or (
            self.is_metadata and bool(self.path)
        )

    @property
    def tier_column(self) -> str:
        return SearchLeaf.Tier(self.tier).tier_name


def _text(name: str, *, ci: bool = False) -> Field:
    return Field(name, Kind.TEXT, name, case_insensitive=ci)


ROOT_FIELDS: dict[str, Field] = {
    field.name: field
    for field in (
        _text("user_id"),
        _text("email", ci=True),
        Field("email.domain", Kind.EMAIL_DOMAIN, "email", case_insensitive=True),
        Field("email_verified", Kind.BOOLEAN, "email_verified"),
        _text("username"),
        _text("phone_number"),
        Field("phone_verified", Kind.BOOLEAN, "phone_verified"),
        _text("name", ci=True),
        _text("given_name", ci=True),
        _text("family_name", ci=True),
        _text("nickname", ci=True),
        Field("created_at", Kind.DATE, "created_at"),
        Field("updated_at", Kind.DATE, "updated_at"),
        Field("last_login", Kind.DATE, "last_login"),
        Field("last_ip", Kind.IP, "last_ip"),
        Field("logins_count", Kind.NUMBER, "logins_count"),
        Field("blocked", Kind.BOOLEAN, "blocked"),
        Field("identities.connection", Kind.IDENTITY, "connection__name"),
        Field("identities.provider", Kind.IDENTITY, "provider"),
        Field("identities.user_id", Kind.IDENTITY, "provider_user_id"),
    )
}

# A term without a field searches these, never metadata (SPEC.md section 5).
BARE_TERM_FIELDS: tuple[Field, ...] = tuple(
    ROOT_FIELDS[name]
    for name in ("email", "name", "nickname", "given_name", "family_name", "username", "user_id")
)

PAID_PLAN_FOR_APP_METADATA = Plan.ESSENTIALS


def _plan_gate(tenant: Tenant, what: str, position: int | None) -> None:
    if not tenant.allows_app_metadata_search:
        raise PlanRequired(
            f"{what} on app_metadata needs the {PAID_PLAN_FOR_APP_METADATA.label} plan or "
            f"higher; this tenant is on the {Plan(tenant.plan).label} plan. Upgrade the plan "
            "to use it, or search user_metadata and root fields.",
            position=position,
        )


def resolve(
    name: str, tenant: Tenant, *, position: int | None = None, what: str = "Searching"
) -> Field:
    """The field named `name`, or UnknownField / PlanRequired."""
    if name in ROOT_FIELDS:
        return ROOT_FIELDS[name]
    tier_name, _, path = name.partition(".")
    if tier_name in metadata.TIERS:
        if name.endswith(".") or ".." in name:
            raise UnknownField(f'"{name}" is not a valid metadata path.', position=position)
        if tier_name == metadata.APP_METADATA:
            _plan_gate(tenant, what, position)
        return Field(name, Kind.METADATA, tier=SearchLeaf.Tier.of(tier_name), path=path)
    raise UnknownField(
        f'Unknown field "{name}". Search {", ".join(sorted(ROOT_FIELDS))}, or '
        "user_metadata.<path> / app_metadata.<path>.",
        position=position,
    )
