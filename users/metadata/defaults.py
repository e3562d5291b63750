"""The root attributes Auth0 generates for a new user who has none (SPEC.md section 7:
`name`, `nickname` and `picture` are always generated), as pure Python.

The write path stores them when it creates a user of a database connection
(`users.services.users.new_user`: the API, the console, imports and seeding alike), so search,
exports and the audit log see what the API shows; migration 0012 filled them in for the users
created before. (Social and enterprise users have them from their identity provider.)
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from urllib.parse import quote

from users.metadata.rules import Doc, JSONValue

GENERATED_FIELDS: tuple[str, ...] = ("name", "nickname", "picture")
GRAVATAR = "https://s.gravatar.com/avatar/"
AVATAR_FALLBACK = "https://cdn.auth0.com/avatars/"


def _text(value: JSONValue) -> str | None:
    return value if isinstance(value, str) and value else None


def gravatar_url(email: str) -> str:
    """Auth0's picture for an email: its Gravatar, falling back to an avatar with its first
    two letters. Only a value in the profile: nothing here (or in the console) loads it."""
    digest = hashlib.md5(email.strip().lower().encode("utf-8"), usedforsecurity=False)
    letters = "".join(char for char in email.lower() if char.isascii() and char.isalnum())[:2]
    fallback = quote(f"{AVATAR_FALLBACK}{letters or 'xx'}.png", safe="")
    return f"{GRAVATAR}{digest.hexdigest()}?s=480&r=pg&d={fallback}"


def generated_profile(profile: Mapping[str, JSONValue], deny_list: Collection[str] = ()) -> Doc:
    """The values to give a new user's empty `name`, `nickname` and `picture`: the email (or
    else the phone number or username), the email's local part (or else the username or
    phone number), and the email's Gravatar URL (no picture without an email). Attributes
    that are set, or on the tenant's deny list (never stored), are left alone."""
    email = _text(profile.get("email"))
    phone = _text(profile.get("phone_number"))
    username = _text(profile.get("username"))
    candidates: dict[str, str | None] = {
        "name": email or phone or username,
        "nickname": (email.split("@", 1)[0] if email else None) or username or phone,
        "picture": gravatar_url(email) if email else None,
    }
    return {
        key: value
        for key, value in candidates.items()
        if value and profile.get(key) is None and key not in deny_list
    }
