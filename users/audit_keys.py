"""The audit chain's keys, and the signed checkpoints that anchor a chain outside the
database. No database access here.

`AUDIT_CHAIN_KEY` (settings, from the environment) is never used as it is: three keys are
derived from it with HMAC-SHA256 under distinct labels, one that keys the chain hash, one
that signs checkpoints, and one that only names the key (its id, kept beside a chain; it
reveals nothing of the key). A chain hash can therefore never pass for a checkpoint's
signature, nor the other way round. Chains written before keys hash with plain SHA-256:
`UNKEYED`, whose id is "".

A checkpoint is one printable line, `django.core.signing.dumps` of the tenant (id and slug),
a sequence number, the chain's hash at it, the time and the key id, signed with the anchor
key (HMAC-SHA256 through Django's signer, under its own salt).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar

from django.conf import settings
from django.core import signing
from django.core.exceptions import ImproperlyConfigured

from users.errors import Refusal

_LABEL = "metadata-admin/audit/{}/v1"
CHECKPOINT_SALT = "users.audit_keys.checkpoint"
CHECKPOINT_VERSION = 1
_T = TypeVar("_T")


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), _LABEL.format(purpose).encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class ChainKey:
    """How a chain is hashed: keyed with a key derived from a secret, or `UNKEYED`."""

    key_id: str
    chain_secret: bytes | None = field(default=None, repr=False)
    anchor_secret: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_secret(cls, secret: str) -> ChainKey:
        return _from_secret(secret)

    @property
    def keyed(self) -> bool:
        return self.chain_secret is not None

    @property
    def label(self) -> str:
        return f"key {self.key_id}" if self.keyed else "the unkeyed scheme (plain SHA-256)"

    def hash(self, data: bytes) -> str:
        """HMAC-SHA256 of `data` under the chain key; plain SHA-256 when unkeyed."""
        if self.chain_secret is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self.chain_secret, data, hashlib.sha256).hexdigest()

    def sign(self, payload: dict[str, Any]) -> str:
        return signing.dumps(payload, key=self._anchor_key(), salt=CHECKPOINT_SALT)

    def unsign(self, text: str) -> Any:
        """The signed payload; `signing.BadSignature` if this key did not sign `text`."""
        return signing.loads(text, key=self._anchor_key(), salt=CHECKPOINT_SALT, fallback_keys=[])

    def _anchor_key(self) -> str:
        if self.anchor_secret is None:
            raise ImproperlyConfigured("An unkeyed chain cannot sign or check checkpoints.")
        return self.anchor_secret.hex()


UNKEYED = ChainKey("")


@lru_cache(maxsize=8)
def _from_secret(secret: str) -> ChainKey:
    return ChainKey(
        key_id=_derive(secret, "key-id").hex()[:16],
        chain_secret=_derive(secret, "chain"),
        anchor_secret=_derive(secret, "anchor"),
    )


def current_key() -> ChainKey:
    """The key new events are hashed with and checkpoints signed with: AUDIT_CHAIN_KEY."""
    secret: str = settings.AUDIT_CHAIN_KEY
    if not secret:
        raise ImproperlyConfigured("Set AUDIT_CHAIN_KEY (see .env.example).")
    return ChainKey.from_secret(secret)


def current_key_id() -> str:
    """The id of AUDIT_CHAIN_KEY: what a new chain head records (the model's default)."""
    return current_key().key_id


def previous_key() -> ChainKey | None:
    """AUDIT_CHAIN_KEY_PREVIOUS, the key before a rotation, if it is set."""
    secret: str = getattr(settings, "AUDIT_CHAIN_KEY_PREVIOUS", "")
    return ChainKey.from_secret(secret) if secret else None


def known_keys() -> list[ChainKey]:
    """The current key, then the previous one if set and different."""
    keys = [current_key()]
    previous = previous_key()
    if previous is not None and previous.key_id != keys[0].key_id:
        keys.append(previous)
    return keys


def key_for(key_id: str, *, keys: list[ChainKey] | None = None) -> ChainKey | None:
    """The scheme a chain head names: `UNKEYED` for "", else the known key with that id."""
    if not key_id:
        return UNKEYED
    candidates = known_keys() if keys is None else keys
    return next((key for key in candidates if key.key_id == key_id), None)


class CheckpointError(Refusal):
    """A checkpoint that cannot be used: unreadable, not signed by a known key, or malformed."""


@dataclass(frozen=True)
class Checkpoint:
    """A tenant's chain head at one moment: its sequence number and hash."""

    tenant_id: int
    tenant_slug: str
    seq: int
    hash: str
    at: datetime
    key_id: str

    def to_payload(self) -> dict[str, Any]:
        return {
            "v": CHECKPOINT_VERSION,
            "tenant_id": self.tenant_id,
            "tenant": self.tenant_slug,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at.isoformat(),
            "key_id": self.key_id,
        }

    @classmethod
    def from_payload(cls, payload: Any) -> Checkpoint:
        try:
            if payload["v"] != CHECKPOINT_VERSION:
                raise ValueError(payload["v"])
            checkpoint = cls(
                tenant_id=_typed(payload["tenant_id"], int),
                tenant_slug=_typed(payload["tenant"], str),
                seq=_typed(payload["seq"], int),
                hash=_typed(payload["hash"], str),
                at=datetime.fromisoformat(_typed(payload["at"], str)),
                key_id=_typed(payload["key_id"], str),
            )
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(
                "The checkpoint is signed but not one this version reads."
            ) from None
        return checkpoint

    def signed(self, key: ChainKey) -> str:
        return key.sign(self.to_payload())


def _typed(value: Any, kind: type[_T]) -> _T:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(value)
    return value


def read_checkpoint(text: str, keys: list[ChainKey] | None = None) -> tuple[Checkpoint, ChainKey]:
    """The checkpoint in `text` and the key that signed it, among the current and previous
    keys; `CheckpointError` naming the problem otherwise."""
    text = text.strip()
    for key in known_keys() if keys is None else keys:
        try:
            payload = key.unsign(text)
        except signing.BadSignature:
            continue
        checkpoint = Checkpoint.from_payload(payload)
        if checkpoint.key_id != key.key_id:
            raise CheckpointError("The checkpoint names another key than the one that signed it.")
        return checkpoint, key
    raise CheckpointError(_unsigned_reason(text))


def _unsigned_reason(text: str) -> str:
    claimed = _claimed_key_id(text)
    if claimed is None:
        return "The checkpoint is not a checkpoint (it cannot be read): check it was copied whole."
    return (
        f"The checkpoint's signature does not verify: it was forged or altered, or signed with "
        f"a key that is neither AUDIT_CHAIN_KEY nor AUDIT_CHAIN_KEY_PREVIOUS (it claims key "
        f"{claimed or '(none)'}; AUDIT_CHAIN_KEY is key {current_key().key_id})."
    )


def _claimed_key_id(text: str) -> str | None:
    """What an unverified checkpoint says its key is, for the message only; None if it
    cannot be read at all."""
    try:
        payload = json.loads(signing.b64_decode(text.split(":", 1)[0].encode()))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    claimed = payload.get("key_id")
    return claimed if isinstance(claimed, str) else ""
