"""A database connection's password policy, as Auth0 defines its levels, and the
`PasswordStrengthError` body Auth0 answers a weak password with. Pure: no Django.

The level is the connection's `options.passwordPolicy`: `none`, `low`, `fair`, `good`
(Auth0's default for a new connection, and ours) or `excellent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

POLICIES = ("none", "low", "fair", "good", "excellent")
DEFAULT_POLICY = "good"

_KINDS = (
    ("lower case letters (a-z)", str.islower),
    ("upper case letters (A-Z)", str.isupper),
    ("numbers (i.e. 0-9)", str.isdigit),
    ("special characters (e.g. !@#$%^&*)", lambda c: not c.isalnum() and not c.isspace()),
)


@dataclass(frozen=True)
class Rule:
    """One requirement, as Auth0 reports it: a message with `%` placeholders and their
    values, whether the password meets it, and its sub-items."""

    code: str
    message: str
    format: tuple[Any, ...]
    verified: bool
    items: tuple[Rule, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message": self.message,
            "format": list(self.format),
            "code": self.code,
            "verified": self.verified,
        }
        if self.items:
            out["items"] = [item.as_json() for item in self.items]
        return out

    def lines(self, indent: str = "") -> list[str]:
        text = self.message % self.format if self.format else self.message
        return [f"{indent}* {text}", *[line for item in self.items for line in item.lines("  ")]]


def _length(password: str, least: int) -> Rule:
    met = len(password) >= least
    return Rule("lengthAtLeast", "At least %d characters in length", (least,), met)


def _kind_items(password: str, count: int) -> tuple[Rule, ...]:
    return tuple(
        Rule("kind", name, (), any(test(c) for c in password)) for name, test in _KINDS[:count]
    )


def _all_of_three(password: str) -> Rule:
    items = _kind_items(password, 3)
    return Rule("shouldContain", "Should contain:", (), all(i.verified for i in items), items)


def _three_of_four(password: str) -> Rule:
    items = _kind_items(password, 4)
    met = sum(item.verified for item in items) >= 3
    message = "Contain at least %d of the following %d types of characters:"
    return Rule("containsAtLeast", message, (3, 4), met, items)


def _identical(password: str) -> Rule:
    runs = any(password[i] == password[i + 1] == password[i + 2] for i in range(len(password) - 2))
    message = 'No more than %d identical characters in a row (e.g., "%s" not allowed)'
    return Rule("identicalChars", message, (2, "aaa"), not runs)


def rules(policy: str, password: str) -> list[Rule]:
    """The policy's rules, each marked met or not for `password` (unknown: the default)."""
    if policy == "none":
        return [_length(password, 1)]
    if policy == "low":
        return [_length(password, 6)]
    if policy == "fair":
        return [_length(password, 8), _all_of_three(password)]
    if policy == "excellent":
        return [_length(password, 10), _three_of_four(password), _identical(password)]
    return [_length(password, 8), _three_of_four(password)]


def strength_error(policy: str, password: str) -> dict[str, Any] | None:
    """Auth0's `PasswordStrengthError` body for a password the policy refuses, else None."""
    checked = rules(policy, password)
    if all(rule.verified for rule in checked):
        return None
    return {
        "name": "PasswordStrengthError",
        "message": "Password is too weak",
        "code": "invalid_password",
        "description": {"rules": [rule.as_json() for rule in checked], "verified": False},
        "policy": "\n".join(line for rule in checked for line in rule.lines()),
        "statusCode": 400,
    }
