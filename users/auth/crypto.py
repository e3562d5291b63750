"""Key material of the tenants' token-signing keys: RS256 (2048-bit RSA) made with joserfc,
the private key kept encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from
SIGNING_KEYS_SECRET, bound to its tenant and kid so a ciphertext cannot be moved to another
row. No database access here; `users.services.signing_keys` stores what this makes."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from joserfc.jwk import RSAKey

from users.errors import Refusal

ALGORITHM = "RS256"
RSA_BITS = 2048
_NONCE_BYTES = 12
_HKDF_INFO = b"metadata-admin/signing-keys/aes-256-gcm/v1"


class KeyUnreadable(Refusal):
    """A stored private key that SIGNING_KEYS_SECRET cannot decrypt (the secret changed)."""

    code = "signing_key_unreadable"
    status = 500


@dataclass(frozen=True)
class NewKey:
    kid: str
    public_jwk: dict[str, Any]
    private_pem: bytes


def new_key() -> NewKey:
    """A fresh RSA key; its kid is its RFC 7638 thumbprint."""
    key = RSAKey.generate_key(RSA_BITS, private=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "alg": ALGORITHM, "use": "sig"}
    return NewKey(kid=kid, public_jwk=public, private_pem=key.as_pem(private=True))


def _aead() -> AESGCM:
    secret = settings.SIGNING_KEYS_SECRET.encode("utf-8")
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
    return AESGCM(derived)


def _bound_to(tenant_pk: int, kid: str) -> bytes:
    return f"tenant:{tenant_pk}/kid:{kid}".encode()


def seal(private_pem: bytes, *, tenant_pk: int, kid: str) -> bytes:
    """The private key encrypted for storage: nonce + AES-GCM ciphertext (with its tag)."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + _aead().encrypt(nonce, private_pem, _bound_to(tenant_pk, kid))


def unseal(stored: bytes | memoryview, *, tenant_pk: int, kid: str) -> RSAKey:
    """The private key back from storage, or KeyUnreadable."""
    blob = bytes(stored)
    try:
        pem = _aead().decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _bound_to(tenant_pk, kid))
    except InvalidTag:
        raise KeyUnreadable(
            f"The signing key {kid} cannot be decrypted with SIGNING_KEYS_SECRET (was it "
            "changed?). Rotate the tenant's key: manage.py rotate_signing_key."
        ) from None
    return RSAKey.import_key(pem)
