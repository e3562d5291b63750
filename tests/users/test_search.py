"""The query language over a fixed dataset: the same user sets on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import FACTORY_CONTEXT, TenantFactory
from users import services
from users.models import Connection, Strategy, Tenant, User
from users.search import (
    InvalidPaging,
    InvalidSort,
    InvalidValue,
    PlanRequired,
    QuerySyntaxError,
    QueryTooExpensive,
    SearchError,
    UnknownField,
    UnsupportedSyntax,
    search_users,
)

pytestmark = pytest.mark.django_db


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# label -> (body, system fields). user_id is auth0|<label> unless the body says otherwise.
DATASET: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "ada": (
        {
            "email": "ada@acme.com",
            "email_verified": True,
            "name": "Ada Lovelace",
            "given_name": "Ada",
            "family_name": "Lovelace",
            "nickname": "ada",
            "username": "ada_l",
            "user_metadata": {
                "theme": "dark",
                "age": 36,
                "addresses": [{"city": "Paris", "zip": "75001"}, {"city": "London"}],
                "newsletter": True,
                "hobbies": ["chess", "go"],
                "birthday": "1988-12-10",
                "nested": {"level": {"deep": "x"}},
            },
            "app_metadata": {
                "plan": "pro",
                "roles": ["admin", "editor"],
                "seats": 10,
                "trial_ends_at": "2025-03-01",
            },
        },
        {
            "created_at": _at("2024-01-15T10:00:00"),
            "logins_count": 5,
            "last_login": _at("2024-06-01T08:00:00"),
        },
    ),
    "grace": (
        {
            "email": "grace@globex.com",
            "email_verified": True,
            "name": "Grace Hopper",
            "given_name": "Grace",
            "family_name": "Hopper",
            "user_metadata": {
                "theme": "light",
                "age": 85,
                "addresses": [{"city": "New York"}],
                "newsletter": False,
                "score": 4.5,
            },
            "app_metadata": {"plan": "free", "roles": ["viewer"], "seats": 1},
        },
        {
            "created_at": _at("2024-03-20T12:00:00"),
            "logins_count": 50,
            "last_login": _at("2024-03-21T09:30:00"),
        },
    ),
    "alan": (
        {
            "email": "ALAN@Acme.COM",
            "name": "Alan Turing",
            "user_metadata": {"theme": "Dark", "addresses": {"city": "Paris"}, "age": "41"},
            "app_metadata": {"plan": "enterprise", "roles": [], "seats": 100},
        },
        {"created_at": _at("2023-11-05T00:00:00"), "logins_count": 0},
    ),
    "linus": (
        {
            "email": "linus@kernel.org",
            "name": "Linus Torvalds",
            "blocked": True,
            "phone_number": "+15551234",
            "phone_verified": True,
            "app_metadata": {"plan": "pro"},
        },
        {"created_at": _at("2024-11-30T23:59:59"), "logins_count": 12},
    ),
    "margaret": (
        {
            "email": "margaret@nasa.gov",
            "name": "Margaret Hamilton",
            "user_metadata": {"theme": None, "tags": [], "prefs": {}},
            "app_metadata": {"flags": {"beta": True}},
        },
        {"created_at": _at("2022-07-01T00:00:00"), "logins_count": 3},
    ),
    "john": (
        {
            "email": "john.doe@acme.com",
            "name": "John Doe",
            "nickname": "Johnny",
            "username": "jdoe",
            "user_metadata": {
                "nested": {"level": {"deep": "y"}},
                "hobbies": ["chess"],
                "birthday": "1990-05-01",
            },
            "app_metadata": {"plan": "pro", "seats": "10"},
        },
        {"created_at": _at("2024-02-29T06:00:00"), "logins_count": 7},
    ),
    "johanna": (
        {
            "email": "johanna@example.com",
            "name": "Johanna Smith",
            "user_metadata": {"weird": "star*value", "colon": "a:b"},
        },
        {"created_at": _at("2024-05-05T05:05:05"), "logins_count": 1},
    ),
    "social": (
        {
            "email": "Ada@Acme.com",
            "name": "Ada Social",
            "connection": "google-oauth2",
            "user_id": "google-oauth2|123",
            "user_metadata": {"theme": "dark"},
        },
        {"created_at": _at("2024-08-08T08:08:08"), "logins_count": 2},
    ),
    "anon": (
        {"connection": "google-oauth2", "user_id": "google-oauth2|456"},
        {"created_at": _at("2021-01-01T00:00:00"), "logins_count": 0},
    ),
}
ALL = set(DATASET)


def _load(tenant: Tenant) -> dict[str, str]:
    """Loads the dataset; returns user_id -> label."""
    Connection.objects.create(tenant=tenant, name="google-oauth2", strategy=Strategy.SOCIAL)
    bodies, system = [], []
    for label, (body, extra) in DATASET.items():
        bodies.append({"user_id": f"auth0|{label}", **body})
        system.append(extra)
    users = services.user_bulk_create(
        tenant=tenant, bodies=bodies, system_fields=system, by=FACTORY_CONTEXT
    )
    return {user.user_id: label for user, label in zip(users, DATASET, strict=True)}


@pytest.fixture
def dataset() -> tuple[Tenant, dict[str, str]]:
    tenant = TenantFactory.create(slug="search", plan="professional")
    return tenant, _load(tenant)


def found(tenant: Tenant, labels: dict[str, str], q: str, **options: Any) -> set[str]:
    result = search_users(tenant, q, per_page=100, **options)
    return {labels[user.user_id] for user in result.users}


# At least 60 queries covering every construct of SPEC.md section 5.
QUERIES: list[tuple[str, set[str]]] = [
    # exact root fields, case rules
    ("email:ada@acme.com", {"ada", "social"}),
    ("email:ADA@ACME.COM", {"ada", "social"}),
    ('email:"alan@acme.com"', {"alan"}),
    ('name:"Ada Lovelace"', {"ada"}),
    ('name:"ada lovelace"', {"ada"}),
    ("name:ada", set()),  # values are not tokenized
    ("given_name:ADA", {"ada"}),
    ("family_name:hopper", {"grace"}),
    ("nickname:johnny", {"john"}),
    ("username:jdoe", {"john"}),
    ("username:JDOE", set()),  # case-sensitive
    ('user_id:"auth0|ada"', {"ada"}),
    ("user_id:auth0", set()),
    ("user_id:auth0\\|ada", {"ada"}),
    ("email_verified:true", {"ada", "grace"}),
    ("blocked:true", {"linus"}),
    ('phone_number:"+15551234"', {"linus"}),
    ("phone_verified:true", {"linus"}),
    # wildcards on root fields
    ("email:*@acme.com", {"ada", "alan", "john", "social"}),
    ("email:ada*", {"ada", "social"}),
    ("name:*ohn*", {"john"}),
    ("name:JO*", {"john", "johanna"}),
    ("user_id:google-oauth2\\|*", {"social", "anon"}),
    ("email:*", ALL - {"anon"}),
    # email.domain
    ("email.domain:acme.com", {"ada", "alan", "john", "social"}),
    ("email.domain:ACME.COM", {"ada", "alan", "john", "social"}),
    ("email.domain:nasa.gov", {"margaret"}),
    # numbers and dates on root fields
    ("logins_count:5", {"ada"}),
    ("logins_count:[5 TO 50]", {"ada", "grace", "linus", "john"}),
    ("logins_count:{5 TO 50]", {"grace", "linus", "john"}),
    ("logins_count:[* TO 2}", {"alan", "johanna", "anon"}),
    ("logins_count:>=50", {"grace"}),
    ("logins_count:<1", {"alan", "anon"}),
    ("created_at:2024-01-15", {"ada"}),
    ("created_at:[2024-01 TO 2024-03]", {"ada", "grace", "john"}),
    ("created_at:{2024-01-15 TO 2024-12-31]", {"grace", "linus", "john", "johanna", "social"}),
    ("created_at:2023", {"alan"}),
    ('created_at:"2024-11-30T23:59:59Z"', {"linus"}),
    ("created_at:[* TO 2022-12-31]", {"margaret", "anon"}),
    ("last_login:[2024-04 TO *]", {"ada"}),
    ("_exists_:last_login", {"ada", "grace"}),
    # identities
    ("identities.connection:google-oauth2", {"social", "anon"}),
    ("identities.provider:auth0", ALL - {"social", "anon"}),
    ("identities.user_id:123", {"social"}),
    # metadata: typed values, case, array levels
    ("user_metadata.theme:dark", {"ada", "social"}),
    ('user_metadata.theme:"dark"', {"ada", "social"}),
    ("user_metadata.theme:Dark", {"alan"}),
    ("user_metadata.age:36", {"ada"}),
    ("user_metadata.age:41", set()),  # stored as the string "41"
    ('user_metadata.age:"41"', {"alan"}),
    ('user_metadata.addresses.city:"Paris"', {"ada", "alan"}),
    ('user_metadata.addresses.city:"New York"', {"grace"}),
    ("user_metadata.hobbies:chess", {"ada", "john"}),
    ("user_metadata.hobbies:go", {"ada"}),
    ("user_metadata.newsletter:true", {"ada"}),
    ("user_metadata.newsletter:false", {"grace"}),
    ('user_metadata.newsletter:"true"', set()),
    ("user_metadata.nested.level.deep:x", {"ada"}),
    ("user_metadata.score:4.5", {"grace"}),
    # metadata wildcards, ranges, _exists_ (beyond Auth0)
    ("user_metadata.addresses.city:Par*", {"ada", "alan"}),
    ("user_metadata.addresses.city:*ris", {"ada", "alan"}),
    ("user_metadata.addresses.city:*York*", {"grace"}),
    ("user_metadata.age:[30 TO 40]", {"ada"}),
    ("user_metadata.age:[30 TO *]", {"ada", "grace"}),
    ("user_metadata.score:>4", {"grace"}),
    ("user_metadata.birthday:[1988-01 TO 1989]", {"ada"}),
    ("user_metadata.birthday:[1990-05-01 TO 1990-05-01]", {"john"}),
    ("user_metadata.birthday:{1988-12-10 TO *]", {"john"}),
    ("_exists_:user_metadata.theme", {"ada", "grace", "alan", "social"}),
    ("_exists_:user_metadata.nested", {"ada", "john"}),
    ("_exists_:user_metadata.tags", set()),  # empty array
    ("_exists_:user_metadata.prefs", set()),  # empty object
    ("_exists_:user_metadata", {"ada", "grace", "alan", "john", "johanna", "social"}),
    ("user_metadata.theme:*", {"ada", "grace", "alan", "social"}),
    # escapes
    ("user_metadata.weird:star\\*value", {"johanna"}),
    ('user_metadata.weird:"star*value"', {"johanna"}),
    ("user_metadata.weird:star*", {"johanna"}),
    ("user_metadata.colon:a\\:b", {"johanna"}),
    # boolean logic, groups, field groups
    ("user_metadata.theme:dark AND email.domain:acme.com", {"ada", "social"}),
    ("user_metadata.theme:dark OR user_metadata.theme:light", {"ada", "social", "grace"}),
    ("NOT user_metadata.theme:dark", ALL - {"ada", "social"}),
    ("-user_metadata.theme:dark", ALL - {"ada", "social"}),
    ("NOT email:ada@acme.com", ALL - {"ada", "social"}),  # users without email included
    ("email:(ada@acme.com OR john.doe@acme.com)", {"ada", "social", "john"}),
    ('name:("Ada Lovelace" OR "Grace Hopper")', {"ada", "grace"}),
    ("(name:ada* OR name:john*) AND NOT email_verified:true", {"social", "john"}),
    ("+user_metadata.theme:dark +email_verified:true", {"ada"}),
    ("user_metadata.theme:dark user_metadata.theme:light", {"ada", "social", "grace"}),
    ("email.domain:acme.com -user_metadata.theme:dark", {"alan", "john"}),
    ("blocked:true OR (logins_count:[40 TO *] AND user_metadata.theme:light)", {"linus", "grace"}),
    # bare terms: root text fields only, never metadata
    ("ada", {"ada"}),
    ("lovelace", {"ada"}),
    ("JOHN*", {"john"}),
    ("dark", set()),
    ('"john.doe@acme.com"', {"john"}),
    # app_metadata on a paid plan
    ("app_metadata.plan:pro", {"ada", "linus", "john"}),
    ("app_metadata.roles:admin", {"ada"}),
    ("app_metadata.seats:10", {"ada"}),
    ('app_metadata.seats:"10"', {"john"}),
    ("app_metadata.flags.beta:true", {"margaret"}),
    ("_exists_:app_metadata.roles", {"ada", "grace"}),
    ("app_metadata.seats:[5 TO *]", {"ada", "alan"}),
    ("app_metadata.trial_ends_at:[2025-01 TO 2025-06]", {"ada"}),
    ("app_metadata.plan:pro AND user_metadata.hobbies:chess", {"ada", "john"}),
    # empty query: everyone
    ("", ALL),
]


@pytest.mark.parametrize(("q", "expected"), QUERIES, ids=[q or "<empty>" for q, _ in QUERIES])
def test_query_finds_exactly(
    dataset: tuple[Tenant, dict[str, str]], q: str, expected: set[str]
) -> None:
    tenant, labels = dataset
    assert found(tenant, labels, q) == expected


def test_the_table_is_large_enough() -> None:
    assert len(QUERIES) >= 60


ERRORS: list[tuple[str, type[SearchError], str]] = [
    ("name:(ada", QuerySyntaxError, "position"),
    ("email:ada@acme.com)", QuerySyntaxError, "position 18"),
    ("favourite_colour:red", UnknownField, 'Unknown field "favourite_colour"'),
    ("_exists_:shoe_size", UnknownField, "shoe_size"),
    ("name:jo?n", UnsupportedSyntax, '"?" wildcards are not supported'),
    ("name:*oh", UnsupportedSyntax, "at least 3"),
    ("name:*oh*", UnsupportedSyntax, "at least 3"),
    ("email:[a TO b]", UnsupportedSyntax, "Ranges work on numbers and dates"),
    ("name:ada~2", UnsupportedSyntax, "Fuzzy"),
    ("name:ada^2", UnsupportedSyntax, "Boosts"),
    ("name:/ad+a/", UnsupportedSyntax, "Regular expressions"),
    ("blocked:yes", InvalidValue, "true or false"),
    ("created_at:yesterday", InvalidValue, "takes a date"),
    ("created_at:2024-13", InvalidValue, "not a valid date"),
    ("logins_count:many", InvalidValue, "is a number"),
    ("logins_count:[a TO 5]", InvalidValue, "not a number"),
    ("user_metadata.age:[young TO old]", InvalidValue, "neither a number nor a date"),
    ("last_ip:1.2.3.x", InvalidValue, "IP address"),
    ("blocked:tru*", UnsupportedSyntax, "does not take wildcards"),
    ("user_metadata:dark", QuerySyntaxError, "Name a path below user_metadata"),
    ("user_metadata..x:1", UnknownField, "not a valid metadata path"),
    ("[1 TO 2]", QuerySyntaxError, "needs a field"),
]


@pytest.mark.parametrize(("q", "error", "message"), ERRORS, ids=[q for q, _, _ in ERRORS])
def test_bad_queries_get_typed_errors_that_say_what(
    dataset: tuple[Tenant, dict[str, str]], q: str, error: type[SearchError], message: str
) -> None:
    tenant, _ = dataset
    with pytest.raises(error) as caught:
        search_users(tenant, q)
    assert message in caught.value.message
    assert caught.value.code == "invalid_query_string"
    assert caught.value.status == 400


def test_syntax_errors_carry_the_position(dataset: tuple[Tenant, dict[str, str]]) -> None:
    tenant, _ = dataset
    with pytest.raises(QuerySyntaxError) as caught:
        search_users(tenant, "email:ada@acme.com)")
    assert caught.value.position == 18
    with pytest.raises(UnsupportedSyntax) as unsupported:
        search_users(tenant, "name:ada AND name:jo?n")
    assert unsupported.value.position == 18


# --- plan gate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "sort"),
    [
        ("app_metadata.plan:pro", None),
        ("name:ada OR app_metadata.plan:pro", None),
        ("_exists_:app_metadata.roles", None),
        ("NOT app_metadata.roles:admin", None),
        ("", "app_metadata.seats:1"),
    ],
)
def test_free_tenants_cannot_search_or_sort_app_metadata(
    dataset: tuple[Tenant, dict[str, str]], q: str, sort: str | None
) -> None:
    tenant, _ = dataset
    services.tenant_set_plan(tenant=tenant, plan="free", by=FACTORY_CONTEXT)
    with pytest.raises(PlanRequired) as caught:
        search_users(tenant, q, sort=sort)
    assert caught.value.code == "plan_required"
    assert caught.value.status == 403
    assert "Essentials plan or higher" in caught.value.message
    assert "Free plan" in caught.value.message
    # Lifting the plan lifts the gate at once.
    services.tenant_set_plan(tenant=tenant, plan="essentials", by=FACTORY_CONTEXT)
    search_users(tenant, q, sort=sort)


def test_free_tenants_still_search_user_metadata(dataset: tuple[Tenant, dict[str, str]]) -> None:
    tenant, labels = dataset
    services.tenant_set_plan(tenant=tenant, plan="free", by=FACTORY_CONTEXT)
    assert found(tenant, labels, "user_metadata.theme:dark") == {"ada", "social"}


# --- results reflect writes at once ---------------------------------------------------------


def test_a_write_is_searchable_immediately(dataset: tuple[Tenant, dict[str, str]]) -> None:
    tenant, labels = dataset
    grace = User.objects.get(tenant=tenant, user_id="auth0|grace")
    services.user_update(
        user=grace, body={"user_metadata": {"theme": "dark", "score": None}}, by=FACTORY_CONTEXT
    )
    assert found(tenant, labels, "user_metadata.theme:dark") == {"ada", "social", "grace"}
    assert found(tenant, labels, "_exists_:user_metadata.score") == set()
    services.user_delete(user=grace, by=FACTORY_CONTEXT)
    assert found(tenant, labels, "user_metadata.theme:dark") == {"ada", "social"}


def test_other_tenants_users_are_never_found(dataset: tuple[Tenant, dict[str, str]]) -> None:
    tenant, labels = dataset
    other = TenantFactory.create(slug="other", plan="enterprise")
    services.user_create(
        tenant=other,
        body={"email": "ada@acme.com", "user_metadata": {"theme": "dark"}},
        by=FACTORY_CONTEXT,
    )
    assert found(tenant, labels, "user_metadata.theme:dark") == {"ada", "social"}
    assert search_users(other, "user_metadata.theme:dark").total == 1


# --- sorting, paging, totals, fields ------------------------------------------------------


def _order(tenant: Tenant, labels: dict[str, str], **options: Any) -> list[str]:
    return [
        labels[user.user_id] for user in search_users(tenant, "", per_page=100, **options).users
    ]


def test_sort_by_root_fields_is_deterministic(dataset: tuple[Tenant, dict[str, str]]) -> None:
    tenant, labels = dataset
    assert _order(tenant, labels, sort="created_at:1")[:3] == ["anon", "margaret", "alan"]
    assert _order(tenant, labels, sort="created_at:-1")[:2] == ["linus", "social"]
    by_logins = _order(tenant, labels, sort="logins_count:-1")
    assert by_logins[:3] == ["grace", "linus", "john"]
    # Ties (alan and anon both 0) break on the internal id, in the sort's direction.
    assert by_logins[-2:] == ["anon", "alan"]
    names = _order(tenant, labels, sort="name:1")
    assert names[-1] == "anon"  # no name: last, whatever the direction
    assert _order(tenant, labels, sort="name:-1")[-1] == "anon"


def test_sort_by_metadata_path(dataset: tuple[Tenant, dict[str, str]]) -> None:
    tenant, labels = dataset
    assert _order(tenant, labels, sort="user_metadata.age:-1")[:3] == ["grace", "ada", "alan"]
    assert _order(tenant, labels, sort="user_metadata.age:1")[:3] == ["ada", "grace", "alan"]
    assert _order(tenant, labels, sort="app_metadata.seats:-1")[:3] == ["alan", "ada", "grace"]


@pytest.mark.parametrize(
    "sort", ["created_at:1", "name:-1", "logins_count:1", "user_metadata.age:-1", "email:1"]
)
def test_cursor_paging_walks_every_user_once_in_order(
    dataset: tuple[Tenant, dict[str, str]], sort: str
) -> None:
    tenant, labels = dataset
    everyone = _order(tenant, labels, sort=sort)
    walked: list[str] = []
    cursor = None
    for _ in range(10):
        result = search_users(tenant, "", sort=sort, per_page=2, cursor=cursor)
        walked += [labels[user.user_id] for user in result.users]
        cursor = result.next_cursor
        if cursor is None:
            break
    assert walked == everyone


@pytest.mark.parametrize("sort", ["created_at:1", "user_metadata.age:-1", "app_metadata.seats:1"])
@pytest.mark.parametrize("per_page", [2, 4])
def test_offset_paging(dataset: tuple[Tenant, dict[str, str]], sort: str, per_page: int) -> None:
    tenant, labels = dataset
    everyone = _order(tenant, labels, sort=sort)
    pages = [search_users(tenant, "", sort=sort, page=p, per_page=per_page) for p in range(6)]
    assert [labels[u.user_id] for page in pages for u in page.users] == everyone
    assert all(page.total == 9 and page.total_is_exact for page in pages)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"per_page": 101}, InvalidPaging, "per_page must be 0 to 100"),
        ({"page": -1}, InvalidPaging, "page must be 0 or more"),
        ({"page": 10**35}, InvalidPaging, "past the last result any search can reach"),
        ({"page": 20_000_001, "per_page": 50}, InvalidPaging, "1,000,000,000 results in"),
        ({"cursor": "garbage"}, InvalidPaging, "cursor is not valid"),
        ({"sort": "shoe_size:1"}, InvalidSort, "Cannot sort by 'shoe_size'"),
        ({"sort": "name:up"}, InvalidSort, "field:1"),
        ({"sort": "identities.connection:1"}, InvalidSort, "Cannot sort by identities.connection"),
        ({"fields": ["email", "password"]}, SearchError, "Unknown field(s) in fields: password"),
    ],
)
def test_bad_paging_sort_and_fields(
    dataset: tuple[Tenant, dict[str, str]],
    options: dict[str, Any],
    error: type[SearchError],
    message: str,
) -> None:
    tenant, _ = dataset
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        search_users(tenant, "", **options)


def test_a_cursor_from_another_sort_is_refused(dataset: tuple[Tenant, dict[str, str]]) -> None:
    tenant, _ = dataset
    cursor = search_users(tenant, "", sort="name:1", per_page=2).next_cursor
    assert cursor
    with pytest.raises(InvalidPaging, match="another sort order"):
        search_users(tenant, "", sort="name:-1", cursor=cursor)


def test_field_selection_loads_only_what_is_asked(dataset: tuple[Tenant, dict[str, str]]) -> None:
    tenant, _ = dataset
    result = search_users(tenant, "name:ada*", fields=["email", "user_metadata"])
    assert result.fields == ("user_id", "email", "user_metadata")
    assert {u.email for u in result.users} == {"ada@acme.com", "Ada@Acme.com"}
    deferred = result.users[0].get_deferred_fields()
    assert "app_metadata" in deferred and "email" not in deferred
    excluded = search_users(tenant, "", fields=["app_metadata"], include_fields=False)
    assert "app_metadata" not in excluded.fields and "email" in excluded.fields


def test_totals_are_exact_up_to_ten_thousand(tenant: Tenant) -> None:
    services.user_bulk_create(
        tenant=tenant,
        bodies=[{"email": f"bulk{i}@x.test", "user_metadata": {"n": i}} for i in range(10_002)],
        by=FACTORY_CONTEXT,
    )
    approximate = search_users(tenant, "", per_page=1)
    assert (approximate.total, approximate.total_is_exact, approximate.total_display) == (
        10_000,
        False,
        "10,000+",
    )
    exact = search_users(tenant, "", per_page=1, exact_total=True)
    assert (exact.total, exact.total_is_exact, exact.total_display) == (10_002, True, "10,002")
    narrow = search_users(tenant, "user_metadata.n:[0 TO 99]", per_page=0)
    assert (narrow.total, narrow.users, narrow.total_is_exact) == (100, [], True)
    # No 1,000-result ceiling: page deep with a cursor or an offset.
    deep = search_users(tenant, "", sort="created_at:1", page=150, per_page=50)
    assert len(deep.users) == 50


def test_a_runaway_search_is_stopped_cleanly(tenant: Tenant) -> None:
    services.user_bulk_create(
        tenant=tenant,
        bodies=[
            {"email": f"slow{i}@x.test", "user_metadata": {"n": i, "s": f"v{i}"}}
            for i in range(3000)
        ],
        by=FACTORY_CONTEXT,
    )
    q = " OR ".join(f"user_metadata.s:*{i:03d}*" for i in range(40))
    with pytest.raises(QueryTooExpensive) as caught:
        search_users(tenant, q, exact_total=True, timeout_ms=1)
    assert caught.value.status == 503
    assert "was stopped" in caught.value.message
    # The connection is fine afterwards.
    assert search_users(tenant, "user_metadata.n:1").total == 1


# --- properties ---------------------------------------------------------------------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(q=st.text(max_size=60))
def test_any_string_gives_results_or_a_typed_error(
    dataset: tuple[Tenant, dict[str, str]], q: str
) -> None:
    tenant, _ = dataset
    try:
        result = search_users(tenant, q)
    except SearchError as error:
        assert error.message
        return
    assert 0 <= result.total <= len(DATASET)


QUERY_ALPHABET = st.sampled_from(
    [
        "email:",
        "name:",
        "user_metadata.theme:",
        "app_metadata.plan:",
        "_exists_:",
        "logins_count:",
        "created_at:",
        "AND ",
        "OR ",
        "NOT ",
        "-",
        "+",
        "(",
        ")",
        '"',
        "*",
        "?",
        "\\",
        "[",
        "]",
        "{",
        "}",
        " TO ",
        "ada",
        "dark",
        "2024-01",
        "5",
        ":",
        "~",
        "^",
        "/",
        " ",
        "user_metadata.",
        "..",
        "é",
    ]
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(QUERY_ALPHABET, max_size=12))
def test_query_shaped_strings_give_results_or_a_typed_error(
    dataset: tuple[Tenant, dict[str, str]], parts: list[str]
) -> None:
    tenant, _ = dataset
    try:
        search_users(tenant, "".join(parts))
    except SearchError as error:
        assert error.message


# --- the CLI ------------------------------------------------------------------------------


def test_search_users_command(
    dataset: tuple[Tenant, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    call_command(
        "search_users", "search", "user_metadata.theme:dark", "--json", "--sort", "email:1"
    )
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "total": 2,
        "users": [  # emails sort without case; the tie breaks on the internal id
            {"user_id": "auth0|ada", "email": "ada@acme.com"},
            {"user_id": "google-oauth2|123", "email": "Ada@Acme.com"},
        ],
    }
    call_command("search_users", "search", "email.domain:acme.com")
    text = capsys.readouterr().out
    assert "auth0|john" in text and "4 users" in text


def test_search_users_command_reports_errors(dataset: tuple[Tenant, dict[str, str]]) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Syntax error at position"):
        call_command("search_users", "search", "name:(ada")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("search_users", "nope", "")
