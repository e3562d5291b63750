"""SPEC.md sections 2, 3, 4 and 9 against users/metadata.py (pure Python, no database)."""

from __future__ import annotations

import copy
import datetime
import decimal
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from users.metadata import (
    APP_METADATA,
    RESERVED_APP_METADATA_KEYS,
    USER_METADATA,
    DeniedAttributeError,
    DepthLimitError,
    InvalidBodyError,
    InvalidKeyError,
    InvalidValueError,
    Limits,
    MetadataError,
    MissingKeyError,
    ReadOnlyPropertyError,
    ReservedKeyError,
    Rules,
    SchemaViolationError,
    SizeLimitError,
    UnknownPropertyError,
    access_key_warnings,
    apply_update,
    compact_size,
    delete_key,
    denied_paths,
    empty_profile,
    merge_tier,
    prepare_create,
    profile_size_warning,
    strip_denied,
    validate_signup_metadata,
    validate_tier,
)

UM, AM = USER_METADATA, APP_METADATA

# SPEC.md section 2, written out here so that a change to the module's constant is noticed.
SPEC_RESERVED = (
    "__tenant",
    "_id",
    "blocked",
    "clientID",
    "created_at",
    "email_verified",
    "email",
    "globalClientID",
    "global_client_id",
    "identities",
    "lastIP",
    "lastLogin",
    "loginsCount",
    "metadata",
    "multifactor_last_modified",
    "multifactor",
    "updated_at",
    "user_id",
)


def profile(**changes):
    base = empty_profile()
    base.update(changes)
    return base


def nest(levels: int, kind: str = "dict"):
    """A value `levels` containers deep (0 is a scalar); `mixed` alternates dict and list."""
    value: object = "leaf"
    for level in range(levels):
        use_dict = kind == "dict" or (kind == "mixed" and level % 2 == 0)
        value = {"k": value} if use_dict else [value]
    return value


def all_keys(value):
    if isinstance(value, dict):
        for key, child in value.items():
            yield key
            yield from all_keys(child)
    elif isinstance(value, list):
        for child in value:
            yield from all_keys(child)


def depth_of(value) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


# --- section 2: key names -------------------------------------------------------------------

DOTTED = 'Fields with "." are not allowed, please remove all dotted fields. Example: '


@pytest.mark.parametrize(
    ("tier", "doc", "path", "message"),
    [
        (UM, {"foo.bar": 1}, (UM, "foo.bar"), DOTTED + "user_metadata.foo.bar"),
        (AM, {"a.": 1}, (AM, "a."), DOTTED + "app_metadata.a."),
        (UM, {".a": 1}, (UM, ".a"), DOTTED + "user_metadata..a"),
        (UM, {"a": {"b.c": 1}}, (UM, "a", "b.c"), DOTTED + "user_metadata.a.b.c"),
        (UM, {"a": {"b": {"c": {"d.e": None}}}}, (UM, "a", "b", "c", "d.e"), None),
        (
            UM,
            {"addresses": [{"city": "x"}, {"zip.code": "1"}]},
            (UM, "addresses", 1, "zip.code"),
            DOTTED + "user_metadata.addresses[1].zip.code",
        ),
        (AM, {"a": [[{"x.y": 1}]]}, (AM, "a", 0, 0, "x.y"), DOTTED + "app_metadata.a[0][0].x.y"),
        (UM, {"$set": 1}, (UM, "$set"), 'Fields with "$" are not allowed'),
        (AM, {"a$b": 1}, (AM, "a$b"), 'Fields with "$" are not allowed'),
        (UM, {"a": {"b$": 1}}, (UM, "a", "b$"), "Example: user_metadata.a.b$"),
        (UM, {"a": [{"$ref": 1}]}, (UM, "a", 0, "$ref"), "Example: user_metadata.a[0].$ref"),
        (UM, {"": 1}, (UM, ""), "Empty field names are not allowed"),
        (AM, {"a": {"": 1}}, (AM, "a", ""), "Empty field names are not allowed"),
        (UM, {"a": [{"": 1}]}, (UM, "a", 0, ""), "Empty field names are not allowed"),
        (UM, {"a\x00b": 1}, (UM, "a\x00b"), "NUL"),
        (AM, {"a": {"\x00": 1}}, (AM, "a", "\x00"), "NUL"),
        (UM, {"a": [{"x\x00": 1}]}, (UM, "a", 0, "x\x00"), "NUL"),
        (UM, {"\ud800": 1}, (UM, "\ud800"), "lone surrogate"),
        (UM, {"a": {1: "x"}}, (UM, "a", 1), "Keys must be strings"),
    ],
    ids=[
        "dot-root",
        "dot-trailing",
        "dot-leading",
        "dot-nested",
        "dot-deep-null-value",
        "dot-in-array-of-objects",
        "dot-in-array-of-arrays",
        "dollar-leading",
        "dollar-middle",
        "dollar-nested",
        "dollar-in-array",
        "empty-root",
        "empty-nested",
        "empty-in-array",
        "nul-root",
        "nul-nested",
        "nul-in-array",
        "lone-surrogate",
        "non-string-key",
    ],
)
def test_bad_key_names_are_refused_with_their_path(tier, doc, path, message):
    with pytest.raises(InvalidKeyError) as caught:
        validate_tier(tier, doc)
    assert caught.value.path == path
    assert caught.value.code == "invalid_body"
    if message is not None:
        assert message in caught.value.message


def test_dotted_key_message_is_auth0s_exactly():
    with pytest.raises(InvalidKeyError) as caught:
        apply_update(profile(), {UM: {"foo": {"bar.baz": 1}}})
    assert caught.value.message == DOTTED + "user_metadata.foo.bar.baz"
    assert caught.value.path_str == "user_metadata.foo.bar.baz"


@pytest.mark.parametrize(
    "patch",
    [{"a.b": None}, {"$x": None}, {"": None}],
    ids=["dot", "dollar", "empty"],
)
def test_bad_key_set_to_null_is_still_refused_in_a_merge(patch):
    with pytest.raises(InvalidKeyError) as caught:
        apply_update(profile(), {UM: patch})
    assert caught.value.path == (UM, next(iter(patch)))


@pytest.mark.parametrize(
    "key",
    ["plain", "with space", "dash-and_underscore", "ünïcödé", "😀", "@at", "a/b", "#", "A" * 300],
    ids=["plain", "space", "dash", "unicode", "emoji", "at", "slash", "hash", "long"],
)
def test_good_key_names_are_accepted_at_every_depth(key):
    doc = {key: {key: [{key: 1}]}}
    validate_tier(UM, doc)
    validate_tier(AM, doc)


# --- section 2: reserved app_metadata root keys -----------------------------------------------


def test_reserved_keys_match_the_spec():
    assert len(SPEC_RESERVED) == 18
    assert frozenset(SPEC_RESERVED) == RESERVED_APP_METADATA_KEYS


@pytest.mark.parametrize("key", SPEC_RESERVED)
def test_reserved_app_metadata_root_key_is_refused(key):
    with pytest.raises(ReservedKeyError) as caught:
        apply_update(profile(), {AM: {"plan": "pro", key: "x"}})
    assert caught.value.path == (AM, key)
    assert f"app_metadata.{key} is reserved" in caught.value.message


def test_reserved_names_are_allowed_in_user_metadata_and_nested_in_app_metadata():
    names = dict.fromkeys(SPEC_RESERVED, "x")
    validate_tier(UM, names)
    validate_tier(AM, {"nested": names, "list": [names]})
    update = apply_update(profile(), {UM: names, AM: {"nested": names}})
    assert update.profile[UM] == names
    assert update.profile[AM] == {"nested": names}


def test_reserved_key_set_to_null_is_a_harmless_delete():
    update = apply_update(profile(**{AM: {"plan": "pro"}}), {AM: {"email": None}})
    assert update.profile[AM] == {"plan": "pro"}


# --- section 3: size -------------------------------------------------------------------------

LIMIT = 16 * 1024
FRAME = compact_size({"k": ""})  # '{"k":""}'


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"a": 1}, 7),
        ({"a": [1, 2]}, 11),
        ({"a": {"b": None}}, 16),
        ("é", 4),
        ("😀", 6),
        ("\u2028", 5),
        ({"é": True}, 11),
        ([], 2),
    ],
    ids=["object", "array", "nested-null", "2-byte", "4-byte", "3-byte-separator", "key", "empty"],
)
def test_compact_size_counts_utf8_bytes_of_compact_json(value, size):
    assert compact_size(value) == size


@pytest.mark.parametrize(
    ("tier", "doc", "size"),
    [
        (UM, {"k": "x" * (LIMIT - FRAME)}, LIMIT),
        (UM, {"k": "x" * (LIMIT - FRAME + 1)}, LIMIT + 1),
        (AM, {"k": "x" * (LIMIT - FRAME)}, LIMIT),
        (AM, {"k": "x" * (LIMIT - FRAME + 1)}, LIMIT + 1),
        (UM, {"k": "é" * ((LIMIT - FRAME) // 2)}, LIMIT),
        (UM, {"k": "é" * ((LIMIT - FRAME) // 2) + "x"}, LIMIT + 1),
        (UM, {"k": "😀" * ((LIMIT - FRAME) // 4)}, LIMIT),
        (UM, {"k": "😀" * ((LIMIT - FRAME) // 4) + "x"}, LIMIT + 1),
        (UM, {"k": [1] * ((LIMIT - 7) // 2)}, LIMIT - 1),
    ],
    ids=[
        "um-exactly-at-limit",
        "um-one-byte-over",
        "am-exactly-at-limit",
        "am-one-byte-over",
        "two-byte-chars-at-limit",
        "two-byte-chars-one-over",
        "four-byte-chars-at-limit",
        "four-byte-chars-one-over",
        "compact-array",
    ],
)
def test_tier_size_limit_is_16kb_of_compact_utf8_json(tier, doc, size):
    assert compact_size(doc) == size
    if size <= LIMIT:
        validate_tier(tier, doc)
        return
    with pytest.raises(SizeLimitError) as caught:
        validate_tier(tier, doc)
    assert caught.value.path == (tier,)
    assert "16,385 bytes" in caught.value.message
    assert "16,384" in caught.value.message


def test_size_is_measured_compact_not_as_sent():
    doc = {"k": [1] * ((LIMIT - 7) // 2)}
    assert compact_size(doc) <= LIMIT < len(json.dumps(doc, indent=2).encode())
    validate_tier(UM, doc)


def test_multibyte_characters_count_in_bytes_not_characters():
    doc = {"k": "é" * ((LIMIT - FRAME) // 2 + 1)}
    assert len(json.dumps(doc, ensure_ascii=False, separators=(",", ":"))) < LIMIT
    with pytest.raises(SizeLimitError):
        validate_tier(UM, doc)


@pytest.mark.parametrize(
    ("limit", "length", "ok"),
    [(100, 100 - FRAME, True), (100, 101 - FRAME, False), (32 * 1024, 20_000, True)],
    ids=["lowered-at-limit", "lowered-one-over", "raised"],
)
def test_tenant_size_limit(limit, length, ok):
    rules = Rules(limits=Limits(tier_max_bytes=limit))
    doc = {"k": "x" * length}
    if ok:
        validate_tier(UM, doc, rules)
    else:
        with pytest.raises(SizeLimitError, match=f"the limit is {limit:,} bytes"):
            validate_tier(UM, doc, rules)


def test_size_limit_applies_to_the_merged_tier():
    half = "x" * (LIMIT // 2)
    current = profile(**{UM: {"a": half}})
    with pytest.raises(SizeLimitError) as caught:
        apply_update(current, {UM: {"b": half}})
    assert caught.value.path == (UM,)
    # The same patch fits once the big stored key is removed in the same request.
    update = apply_update(current, {UM: {"a": None, "b": half}})
    assert update.profile[UM] == {"b": half}


# --- section 3: depth ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "levels", "max_depth", "ok"),
    [
        ("dict", 10, 10, True),
        ("dict", 11, 10, False),
        ("list", 10, 10, True),
        ("list", 11, 10, False),
        ("mixed", 10, 10, True),
        ("mixed", 11, 10, False),
        ("dict", 3, 3, True),
        ("dict", 4, 3, False),
        ("list", 4, 3, False),
        ("dict", 1, 1, True),
        ("list", 2, 1, False),
        ("dict", 12, 12, True),
        ("dict", 13, 12, False),
    ],
    ids=[
        "objects-10-pass",
        "objects-11-fail",
        "arrays-10-pass",
        "arrays-11-fail",
        "mixed-10-pass",
        "mixed-11-fail",
        "tenant-3-pass",
        "tenant-3-objects-fail",
        "tenant-3-arrays-fail",
        "tenant-1-flat-pass",
        "tenant-1-array-fail",
        "tenant-raised-12-pass",
        "tenant-raised-12-fail",
    ],
)
def test_depth_limit_counts_the_tier_and_every_container(kind, levels, max_depth, ok):
    # The tier object is level 1; its value holds the rest.
    doc = {"a": nest(levels - 1, kind)}
    assert depth_of(doc) == levels
    rules = Rules(limits=Limits(max_depth=max_depth))
    if ok:
        validate_tier(AM, doc, rules)
        return
    with pytest.raises(DepthLimitError) as caught:
        validate_tier(AM, doc, rules)
    assert len(caught.value.path) == max_depth + 1
    assert caught.value.path[:2] == (AM, "a")
    assert f"{max_depth + 1} levels deep; the limit is {max_depth}" in caught.value.message


def test_depth_limit_applies_through_apply_update():
    with pytest.raises(DepthLimitError):
        apply_update(profile(), {UM: {"a": nest(10)}})
    assert apply_update(profile(), {UM: {"a": nest(9)}}).profile[UM] == {"a": nest(9)}


# --- section 4: merge ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "patch", "expected"),
    [
        (
            {"hobby": "surfing", "addresses": {"home": "123 Main"}},
            {"addresses": {"work": "100 Industrial"}},
            {"hobby": "surfing", "addresses": {"work": "100 Industrial"}},
        ),
        ({"a": 1, "b": 2}, {"a": None}, {"b": 2}),
        ({"a": 1}, {"missing": None}, {"a": 1}),
        ({"a": 1, "b": 2}, {}, {}),
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": 1}, {"a": "one"}, {"a": "one"}),
        ({"a": [1, 2, 3]}, {"a": [4]}, {"a": [4]}),
        ({"a": {"x": {"y": 1}, "z": 2}}, {"a": {"x": {}}}, {"a": {"x": {}}}),
        ({"a": {"x": 1}}, {"a": []}, {"a": []}),
        ({"a": 1}, {"a": False}, {"a": False}),
        ({"a": 1}, {"a": 0}, {"a": 0}),
        ({"a": 1}, {"a": ""}, {"a": ""}),
        ({"a": 1}, {"a": {}}, {"a": {}}),
        ({}, {"a": None}, {}),
    ],
    ids=[
        "spec-worked-example",
        "null-deletes",
        "null-of-absent-key",
        "empty-clears",
        "new-key-added-others-stay",
        "scalar-replaced",
        "array-replaced-whole",
        "nested-object-replaced-whole",
        "object-replaced-by-array",
        "false-is-kept",
        "zero-is-kept",
        "empty-string-is-kept",
        "empty-object-value-is-kept",
        "empty-stored",
    ],
)
def test_first_level_merge(stored, patch, expected):
    before = copy.deepcopy((stored, patch))
    assert merge_tier(stored, patch) == expected
    assert (stored, patch) == before
    update = apply_update(profile(**{UM: stored, AM: stored}), {UM: patch, AM: patch})
    assert update.profile[UM] == expected
    assert update.profile[AM] == expected


@pytest.mark.parametrize(
    "patch", [None, [], [1], "x", 3], ids=["null", "empty-list", "list", "str", "int"]
)
def test_merge_tier_refuses_a_patch_that_is_not_an_object(patch):
    with pytest.raises(InvalidBodyError):
        merge_tier({"a": 1}, patch)


@pytest.mark.parametrize("tier", [UM, AM])
@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "cannot be null"),
        ([], "must be an object, not list"),
        ([{"a": 1}], "must be an object, not list"),
        ("x", "must be an object, not str"),
        (1, "must be an object, not int"),
        (True, "must be an object, not bool"),
    ],
    ids=["null", "empty-list", "list", "string", "number", "boolean"],
)
def test_tier_that_is_not_an_object_is_refused(tier, value, words):
    current = profile(**{tier: {"keep": 1}})
    with pytest.raises(InvalidBodyError) as caught:
        apply_update(current, {tier: value})
    assert caught.value.path == (tier,)
    assert words in caught.value.message
    assert caught.value.code == "invalid_body"
    assert current[tier] == {"keep": 1}


def test_tier_absent_from_body_is_untouched():
    current = profile(**{UM: {"a": 1}}, **{AM: {"plan": "pro"}})
    update = apply_update(current, {"name": "Ann"})
    assert update.profile[UM] == {"a": 1}
    assert update.profile[AM] == {"plan": "pro"}
    assert update.profile["name"] == "Ann"


def test_root_attributes_replace_and_others_stay():
    current = profile(name="Old", nickname="nick", email_verified=True)
    update = apply_update(current, {"name": "New", "email_verified": False, "nickname": None})
    assert update.profile["name"] == "New"
    assert update.profile["email_verified"] is False
    assert update.profile["nickname"] is None
    assert update.profile["family_name"] is None


@pytest.mark.parametrize(
    ("stored", "patch", "expected"),
    [
        ({"a": 1, "b": 2}, {"c": 3}, {"c": 3}),
        ({"a": {"x": 1}}, {"a": {"y": 2}}, {"a": {"y": 2}}),
        ({"a": 1}, {}, {}),
    ],
    ids=["replaces-whole", "nested", "empty-clears"],
)
def test_replace_mode_takes_the_tier_whole(stored, patch, expected):
    update = apply_update(profile(**{AM: stored}), {AM: patch}, mode="replace")
    assert update.profile[AM] == expected


def test_replace_mode_still_validates():
    with pytest.raises(ReservedKeyError):
        apply_update(profile(), {AM: {"email": "x"}}, mode="replace")


def test_delete_key_removes_one_first_level_key():
    doc = {"a": 1, "b": {"c": 2}}
    assert delete_key(doc, "b", tier=UM) == {"a": 1}
    assert doc == {"a": 1, "b": {"c": 2}}


@pytest.mark.parametrize(
    ("doc", "key"),
    [({"a": 1}, "b"), ({}, "a"), ({"a": {"b": 1}}, "b")],
    ids=["absent", "empty-tier", "only-nested"],
)
def test_delete_key_refuses_a_missing_key(doc, key):
    with pytest.raises(MissingKeyError) as caught:
        delete_key(doc, key, tier=AM)
    assert caught.value.path == (AM, key)
    assert "no key" in caught.value.message


# --- section 4: root properties ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"foo": 1}, "foo"),
        ({"userMetadata": {}}, "userMetadata"),
        ({"password_hash": "$2b$"}, "password_hash"),
        ({"metadata": {}}, "metadata"),
        ({"gender": "x", "name": "A", "age": 3}, "gender, age"),
    ],
    ids=["foo", "camel-case-tier", "password-hash", "metadata", "two-unknown"],
)
def test_unknown_root_properties_are_refused(body, names):
    with pytest.raises(UnknownPropertyError) as caught:
        apply_update(profile(), body)
    assert caught.value.message == (
        f"Payload validation error: 'Additional properties not allowed: {names}'"
    )
    assert caught.value.path == (names.split(", ")[0],)


@pytest.mark.parametrize(
    "key",
    ["user_id", "identities", "created_at", "updated_at", "last_login", "last_ip", "logins_count"],
)
def test_read_only_root_properties_are_refused(key):
    with pytest.raises(ReadOnlyPropertyError) as caught:
        apply_update(profile(), {key: "x"})
    assert caught.value.path == (key,)
    assert "read-only" in caught.value.message


@pytest.mark.parametrize(
    ("body", "error", "path"),
    [
        ({"name": 5}, InvalidBodyError, ("name",)),
        ({"name": "x" * 301}, InvalidBodyError, ("name",)),
        ({"given_name": "x" * 151}, InvalidBodyError, ("given_name",)),
        ({"name": "a\x00b"}, InvalidValueError, ("name",)),
        ({"nickname": "\udc00"}, InvalidValueError, ("nickname",)),
        ({"email": "not-an-email"}, InvalidBodyError, ("email",)),
        ({"email": "a b@c.d"}, InvalidBodyError, ("email",)),
        ({"email": "a@b@c"}, InvalidBodyError, ("email",)),
        ({"email": "a@b.c\n"}, InvalidBodyError, ("email",)),
        ({"email": "x" * 250 + "@b.cd"}, InvalidBodyError, ("email",)),
        ({"email": ["a@b.c"]}, InvalidBodyError, ("email",)),
        ({"email_verified": "true"}, InvalidBodyError, ("email_verified",)),
        ({"phone_verified": 1}, InvalidBodyError, ("phone_verified",)),
        ({"blocked": None}, InvalidBodyError, ("blocked",)),
        ({"password": "short12"}, InvalidBodyError, ("password",)),
        ({"password": "x" * 513}, InvalidBodyError, ("password",)),
        ({"password": 12345678}, InvalidBodyError, ("password",)),
        ({"password": "pass\x00word"}, InvalidValueError, ("password",)),
        ({"connection": ""}, InvalidBodyError, ("connection",)),
        ({"connection": 7}, InvalidBodyError, ("connection",)),
    ],
    ids=[
        "name-not-string",
        "name-too-long",
        "given-name-too-long",
        "name-nul",
        "nickname-lone-surrogate",
        "email-no-at",
        "email-space",
        "email-two-ats",
        "email-trailing-newline",
        "email-too-long",
        "email-list",
        "bool-as-string",
        "bool-as-int",
        "bool-null",
        "password-7",
        "password-513",
        "password-number",
        "password-nul",
        "connection-empty",
        "connection-number",
    ],
)
def test_root_value_types_are_checked(body, error, path):
    with pytest.raises(error) as caught:
        apply_update(profile(), body)
    assert type(caught.value) is error
    assert caught.value.path == path


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x" * 300},
        {"email": "a@b"},
        {"email": None},
        {"blocked": True},
        {"phone_number": "+15550100"},
        {"picture": "https://example.com/" + "p" * 1900},
    ],
    ids=["name-300", "email-minimal", "email-null", "blocked", "phone", "picture"],
)
def test_root_values_within_the_rules_are_stored(body):
    update = apply_update(profile(), body)
    for key, value in body.items():
        assert update.profile[key] == value


@pytest.mark.parametrize("length", [8, 512], ids=["min", "max"])
def test_password_is_returned_apart_from_the_profile(length):
    update = apply_update(profile(), {"password": "p" * length, "connection": "db"})
    assert update.password == "p" * length
    assert update.connection == "db"
    assert "password" not in update.profile
    assert "connection" not in update.profile


def test_prepare_create_accepts_user_id_and_connection_and_takes_tiers_whole():
    body = {
        "user_id": "auth0|abc",
        "connection": "Username-Password-Authentication",
        "email": "a@b.c",
        "password": "correct horse",
        UM: {"a": None, "b": 1},
        AM: {"plan": "pro"},
    }
    update = prepare_create(body)
    assert update.user_id == "auth0|abc"
    assert update.connection == "Username-Password-Authentication"
    assert update.password == "correct horse"
    assert update.profile["email"] == "a@b.c"
    assert update.profile[AM] == {"plan": "pro"}
    assert "user_id" not in update.profile


@pytest.mark.parametrize(
    "user_id",
    ["", "has space", "trailing\n", "x" * 256, 5, "nul\x00"],
    ids=["empty", "space", "trailing-newline", "too-long", "number", "nul"],
)
def test_prepare_create_refuses_a_bad_user_id(user_id):
    with pytest.raises(MetadataError) as caught:
        prepare_create({"user_id": user_id})
    assert caught.value.path == ("user_id",)


@pytest.mark.parametrize(
    "body",
    [None, [], "{}", 1, [("name", "x")]],
    ids=["null", "list", "string", "number", "pairs"],
)
def test_body_must_be_an_object(body):
    with pytest.raises(InvalidBodyError, match="must be a JSON object"):
        apply_update(profile(), body)


# --- values that are not JSON ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "error", "path_tail"),
    [
        (math.nan, InvalidValueError, ("a",)),
        (math.inf, InvalidValueError, ("a",)),
        (-math.inf, InvalidValueError, ("a",)),
        ([1, {"b": math.nan}], InvalidValueError, ("a", 1, "b")),
        ({1, 2}, InvalidValueError, ("a",)),
        ((1, 2), InvalidValueError, ("a",)),
        (b"bytes", InvalidValueError, ("a",)),
        (object(), InvalidValueError, ("a",)),
        (decimal.Decimal("1.5"), InvalidValueError, ("a",)),
        (datetime.date(2024, 1, 1), InvalidValueError, ("a",)),
        ({"x": [frozenset()]}, InvalidValueError, ("a", "x", 0)),
        ("a\x00b", InvalidValueError, ("a",)),
        (["\ud83d"], InvalidValueError, ("a", 0)),
        (10**5000, InvalidValueError, ("a",)),
    ],
    ids=[
        "nan",
        "infinity",
        "minus-infinity",
        "nan-nested",
        "set",
        "tuple",
        "bytes",
        "object",
        "decimal",
        "date",
        "frozenset-nested",
        "nul-string",
        "lone-surrogate",
        "int-too-long",
    ],
)
def test_values_that_are_not_storable_json_are_refused(value, error, path_tail):
    for tier in (UM, AM):
        with pytest.raises(error) as caught:
            apply_update(profile(), {tier: {"a": value}})
        assert caught.value.path == (tier, *path_tail)


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -1.5, 10**20, "", "\u2028", [], {}, [None, [{}]], 1e308],
    ids=["null", "bool", "zero", "float", "big-int", "empty", "sep", "list", "obj", "mix", "huge"],
)
def test_every_json_type_is_accepted_as_a_value(value):
    update = apply_update(profile(), {UM: {"a": value}}, mode="replace")
    assert update.profile[UM] == {"a": value}


# --- section 9: deny list --------------------------------------------------------------------

DENY = frozenset(
    {"gender", "phone_number", "user_metadata.ssn", "user_metadata.gov.id", "app_metadata.dob"}
)
STRIP = Rules(deny_list=DENY)


@pytest.mark.parametrize(
    ("body", "kept", "dropped"),
    [
        ({"gender": "f", "name": "A"}, {"name": "A"}, ("gender",)),
        ({"phone_number": "+1", "name": "A"}, {"name": "A"}, ("phone_number",)),
        ({UM: {"ssn": "123", "a": 1}}, {UM: {"a": 1}}, ("user_metadata.ssn",)),
        ({UM: {"gov": {"id": 1, "x": 2}}}, {UM: {"gov": {"x": 2}}}, ("user_metadata.gov.id",)),
        ({AM: {"dob": "1990", "plan": "pro"}}, {AM: {"plan": "pro"}}, ("app_metadata.dob",)),
        (
            {UM: {"gov": [{"id": 1}, {"x": 2}, {"id": 3, "y": 4}]}},
            {UM: {"gov": [{}, {"x": 2}, {"y": 4}]}},
            ("user_metadata.gov[0].id", "user_metadata.gov[2].id"),
        ),
        (
            {UM: {"gov": [[{"id": 1}]]}},
            {UM: {"gov": [[{}]]}},
            ("user_metadata.gov[0][0].id",),
        ),
        ({UM: {"ssn": None, "a": 1}}, {UM: {"ssn": None, "a": 1}}, ()),
        ({"gender": None, "name": "A"}, {"gender": None, "name": "A"}, ()),
        ({UM: {"gov": "flat", "ssnx": 1}}, {UM: {"gov": "flat", "ssnx": 1}}, ()),
    ],
    ids=[
        "root-attribute-not-in-profile",
        "root-profile-attribute",
        "metadata-path",
        "nested-path",
        "app-metadata-path",
        "inside-array",
        "inside-nested-arrays",
        "null-metadata-not-counted",
        "null-root-not-counted",
        "no-match",
    ],
)
def test_strip_denied_removes_and_reports(body, kept, dropped):
    before = copy.deepcopy(body)
    stripped, reported = strip_denied(body, DENY)
    assert stripped == kept
    assert tuple(reported) == dropped
    assert body == before


def test_strip_denied_reports_a_place_once_even_when_named_twice():
    stripped, reported = strip_denied({UM: {"ssn": 1}}, {"user_metadata.ssn", "user_metadata..ssn"})
    assert stripped == {UM: {}}
    assert reported == ["user_metadata.ssn"]


def test_strip_mode_update_drops_and_reports():
    current = profile(**{UM: {"ssn": "old", "keep": 1}})
    body: dict[str, Any] = {
        "gender": "f",
        "name": "Ann",
        UM: {"ssn": "new", "gov": [{"id": 9}], "b": 2},
    }
    update = apply_update(current, body, STRIP, on_denied="strip")
    assert update.dropped == ("gender", "user_metadata.gov[0].id", "user_metadata.ssn")
    assert update.profile[UM] == {"ssn": "old", "keep": 1, "gov": [{}], "b": 2}
    assert update.profile["name"] == "Ann"
    assert "gender" not in update.profile
    assert body[UM]["ssn"] == "new"


def test_null_for_a_denied_key_deletes_it_in_both_modes():
    current = profile(**{UM: {"ssn": "old", "keep": 1}})
    for mode in ("strip", "refuse"):
        update = apply_update(current, {UM: {"ssn": None}}, STRIP, on_denied=mode)
        assert update.profile[UM] == {"keep": 1}
        assert update.dropped == ()


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"gender": "f"}, ("gender",)),
        ({"phone_number": "+1"}, ("phone_number",)),
        ({UM: {"ssn": "1"}}, (UM, "ssn")),
        ({UM: {"gov": {"id": 1}}}, (UM, "gov", "id")),
        ({UM: {"gov": [{"x": 1}, {"id": 1}]}}, (UM, "gov", 1, "id")),
        ({AM: {"dob": "1990"}}, (AM, "dob")),
    ],
    ids=["root-not-in-profile", "root", "metadata", "nested", "inside-array", "app-metadata"],
)
def test_refuse_mode_names_the_denied_attribute(body, path):
    with pytest.raises(DeniedAttributeError) as caught:
        apply_update(profile(), body, STRIP)
    assert caught.value.path == path
    assert caught.value.message.startswith(caught.value.path_str)
    assert "deny list" in caught.value.message


@pytest.mark.parametrize("on_denied", ["refuse", "strip"])
def test_deny_list_on_very_deep_arrays_ends_in_the_depth_limit(on_denied):
    deep = nest(3000, "list")
    body = {UM: {"ssn": "1", "gov": deep}}
    with pytest.raises(DepthLimitError if on_denied == "strip" else DeniedAttributeError):
        apply_update(profile(), body, STRIP, on_denied=on_denied)
    with pytest.raises(DepthLimitError):
        apply_update(profile(), {UM: {"gov": deep}}, STRIP, on_denied=on_denied)


def test_denied_paths_ignores_empty_and_unknown_entries():
    assert denied_paths({UM: {"a": 1}}, {"", ".", "user_metadata.b", "nope.x"}) == []


# --- tenant JSON Schema ----------------------------------------------------------------------

SCHEMA_RULES = Rules(
    schemas={
        UM: {
            "type": "object",
            "properties": {
                "age": {"type": "integer", "minimum": 0},
                "tags": {"type": "array", "items": {"type": "string"}},
                "address": {"type": "object", "properties": {"zip": {"type": "string"}}},
            },
        },
        AM: {
            "type": "object",
            "required": ["plan"],
            "additionalProperties": False,
            "properties": {"plan": {"enum": ["free", "pro"]}, "seats": {"type": "integer"}},
        },
    }
)


@pytest.mark.parametrize(
    ("tier", "doc", "path"),
    [
        (UM, {"age": "ten"}, (UM, "age")),
        (UM, {"age": -1}, (UM, "age")),
        (UM, {"tags": ["a", 2]}, (UM, "tags", 1)),
        (UM, {"address": {"zip": 12345}}, (UM, "address", "zip")),
        (AM, {"seats": 3}, (AM,)),
        (AM, {"plan": "gold"}, (AM, "plan")),
        (AM, {"plan": "pro", "extra": 1}, (AM,)),
    ],
    ids=[
        "wrong-type",
        "below-minimum",
        "array-item",
        "nested",
        "required-missing",
        "enum",
        "additional-property",
    ],
)
def test_schema_violation_names_the_path(tier, doc, path):
    with pytest.raises(SchemaViolationError) as caught:
        validate_tier(tier, doc, SCHEMA_RULES)
    assert caught.value.path == path
    assert "does not match the tenant's schema" in caught.value.message


def test_schema_applies_to_the_merged_tier():
    current = profile(**{AM: {"plan": "pro"}})
    assert apply_update(current, {AM: {"seats": 2}}, SCHEMA_RULES).profile[AM] == {
        "plan": "pro",
        "seats": 2,
    }
    with pytest.raises(SchemaViolationError) as caught:
        apply_update(current, {AM: {"plan": None}}, SCHEMA_RULES)
    assert caught.value.path == (AM,)
    assert "plan" in caught.value.message


def test_schema_of_one_tier_does_not_apply_to_the_other():
    rules = Rules(schemas={AM: {"type": "object", "required": ["plan"]}})
    validate_tier(UM, {"x": 1}, rules)
    with pytest.raises(SchemaViolationError):
        validate_tier(AM, {"x": 1}, rules)


# --- section 3: signup metadata --------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "limits", "error", "path"),
    [
        ({f"k{i}": "v" for i in range(10)}, Limits(), None, None),
        ({f"k{i}": "v" for i in range(11)}, Limits(), SizeLimitError, (UM,)),
        ({"n" * 100: "v"}, Limits(), None, None),
        ({"n" * 101: "v"}, Limits(), SizeLimitError, (UM, "n" * 101)),
        ({"a": "v" * 500}, Limits(), None, None),
        ({"a": "é" * 500}, Limits(), None, None),
        ({"a": "v" * 501}, Limits(), SizeLimitError, (UM, "a")),
        ({"a": 1}, Limits(), InvalidBodyError, (UM, "a")),
        ({"a": None}, Limits(), InvalidBodyError, (UM, "a")),
        ({"a": {"b": "c"}}, Limits(), InvalidBodyError, (UM, "a")),
        ({"a.b": "c"}, Limits(), InvalidKeyError, (UM, "a.b")),
        ({"a": "b\x00"}, Limits(), InvalidValueError, (UM, "a")),
        (["a"], Limits(), InvalidBodyError, (UM,)),
        ({"a": "1", "b": "2", "c": "3"}, Limits(signup_max_properties=2), SizeLimitError, (UM,)),
        ({"abc": "1"}, Limits(signup_max_name_length=2), SizeLimitError, (UM, "abc")),
        ({"a": "123"}, Limits(signup_max_value_length=2), SizeLimitError, (UM, "a")),
        ({}, Limits(), None, None),
    ],
    ids=[
        "10-properties",
        "11-properties",
        "name-100",
        "name-101",
        "value-500",
        "value-500-multibyte-chars",
        "value-501",
        "value-number",
        "value-null",
        "value-object",
        "dotted-name",
        "value-nul",
        "not-an-object",
        "tenant-properties",
        "tenant-name-length",
        "tenant-value-length",
        "empty",
    ],
)
def test_signup_metadata_limits(doc, limits, error, path):
    if error is None:
        validate_signup_metadata(doc, limits)
        return
    with pytest.raises(error) as caught:
        validate_signup_metadata(doc, limits)
    assert type(caught.value) is error
    assert caught.value.path == path


# --- beyond: warnings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_metadata", "flagged"),
    [
        ({"role": "admin"}, ["role"]),
        ({"roles": [], "plan": "pro"}, ["plan", "roles"]),
        ({"admin": True, "permissions": [], "groups": []}, ["admin", "groups", "permissions"]),
        ({"Role": 1}, ["Role"]),
        ({"theme": "dark", "roleplay": 1, "settings": {"role": 1}}, []),
        ({}, []),
    ],
    ids=[
        "role",
        "roles-plan-sorted",
        "three",
        "case-insensitive",
        "lookalikes-and-nested",
        "empty",
    ],
)
def test_access_key_warnings(user_metadata, flagged):
    warnings = access_key_warnings(user_metadata)
    assert [w.split(" ")[0] for w in warnings] == [f"user_metadata.{key}" for key in flagged]
    assert all("app_metadata" in w for w in warnings)


def test_profile_size_warning_above_10kb():
    base = {UM: {"k": ""}}
    room = 10 * 1024 - compact_size(base)
    assert profile_size_warning({UM: {"k": "x" * room}}) is None
    warning = profile_size_warning({UM: {"k": "x" * (room + 1)}})
    assert warning is not None
    assert "10,241 bytes" in warning
    assert "10,240" in warning
    assert profile_size_warning({UM: {"k": "x" * 20}}, Limits(profile_warn_bytes=10)) is not None


# --- apply_update never changes its inputs ---------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kwargs"),
    [
        ({UM: {"a": None, "b": [1]}, AM: {}}, {}),
        ({UM: {"c": {"d": 1}}}, {"mode": "replace"}),
        ({UM: {"ssn": 1, "gov": [{"id": 2}]}}, {"rules": STRIP, "on_denied": "strip"}),
        ({UM: {"x.y": 1}}, {}),
        ({AM: {"email": 1}}, {}),
    ],
    ids=["merge", "replace", "strip", "refused-key", "refused-reserved"],
)
def test_apply_update_never_mutates_its_inputs(body, kwargs):
    current = profile(**{UM: {"a": 1, "gov": [{"id": 0}]}}, **{AM: {"plan": "pro"}})
    before = copy.deepcopy((current, body))
    try:
        update = apply_update(current, body, **kwargs)
    except MetadataError:
        update = None
    assert (current, body) == before
    if update is not None:
        assert update.profile is not current
        assert update.profile[UM] is not current[UM]


# --- properties ------------------------------------------------------------------------------

CHARS = (
    st.characters(exclude_categories=())
    | st.characters(categories=["Cs"])
    | st.sampled_from([".", "$", "\x00", "é", "😀"])
)
TEXT = st.text(CHARS, max_size=6)
KEYS = TEXT | st.sampled_from(["a", "b", "ssn", "gov", "id", "plan", "email", "role", "$x", ""])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
OBJECTS = st.dictionaries(KEYS, JSON, max_size=5)
ROOT_KEYS = st.sampled_from(
    [UM, AM, UM, AM, "email", "name", "blocked", "password", "connection", "user_id", "gender"]
)
BODIES = st.dictionaries(ROOT_KEYS | TEXT, JSON | OBJECTS, max_size=4)
RULES = st.sampled_from(
    [
        Rules(),
        Rules(limits=Limits(max_depth=3, tier_max_bytes=60)),
        Rules(deny_list=DENY | {"user_metadata.a.b", "app_metadata.a"}),
        SCHEMA_RULES,
    ]
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(
    body=JSON | BODIES,
    stored=OBJECTS,
    rules=RULES,
    mode=st.sampled_from(["merge", "replace"]),
    on_denied=st.sampled_from(["refuse", "strip"]),
    create=st.booleans(),
)
def test_apply_update_raises_only_metadata_errors(body, stored, rules, mode, on_denied, create):
    current = profile(**{UM: stored})
    before = copy.deepcopy((current, body))
    try:
        update = apply_update(
            current, body, rules, mode=mode, on_denied=on_denied, allow_create_fields=create
        )
    except MetadataError as error:
        assert isinstance(error.path, tuple)
        assert error.message
    else:
        assert isinstance(body, dict)
        for tier in (UM, AM):
            if tier in body:
                validate_tier(tier, update.profile[tier], rules)
    assert repr((current, body)) == repr(before)


@PROPERTY
@given(doc=JSON | OBJECTS, tier=st.sampled_from([UM, AM]), rules=RULES)
def test_validate_tier_raises_only_metadata_errors_and_what_passes_fits(doc, tier, rules):
    try:
        validate_tier(tier, doc, rules)
    except MetadataError:
        return
    assert compact_size(doc) <= rules.limits.tier_max_bytes
    assert depth_of(doc) <= rules.limits.max_depth
    for key in all_keys(doc):
        assert key
        assert "." not in key
        assert "$" not in key
        assert "\x00" not in key
        key.encode("utf-8")
    if tier == AM:
        assert not set(doc) & RESERVED_APP_METADATA_KEYS


@PROPERTY
@given(stored=OBJECTS, patch=JSON | OBJECTS)
def test_merge_tier_raises_only_metadata_errors_and_is_idempotent(stored, patch):
    try:
        once = merge_tier(stored, patch)
    except MetadataError:
        assert not isinstance(patch, dict)
        return
    assert merge_tier(once, patch) == once
    for key, value in patch.items():
        if value is None:
            assert key not in once
        else:
            assert once[key] is value
    if patch:
        for key in stored.keys() - patch.keys():
            assert once[key] is stored[key]
    else:
        assert once == {}


@PROPERTY
@given(
    body=BODIES, deny=st.lists(st.sampled_from([*sorted(DENY), "user_metadata..ssn", "a.b", ""]))
)
def test_strip_denied_leaves_nothing_denied_and_never_mutates(body, deny):
    before = copy.deepcopy(body)
    stripped, dropped = strip_denied(body, deny)
    assert denied_paths(stripped, deny) == []
    assert len(dropped) == len(set(dropped))
    assert repr(body) == repr(before)


@PROPERTY
@given(doc=JSON | OBJECTS | st.dictionaries(KEYS, TEXT, max_size=12))
def test_validate_signup_metadata_raises_only_metadata_errors(doc):
    try:
        validate_signup_metadata(doc)
    except MetadataError:
        return
    assert isinstance(doc, dict)
    assert len(doc) <= 10
    assert all(isinstance(value, str) and len(value) <= 500 for value in doc.values())
