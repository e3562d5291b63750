"""The settings the test suite runs with: the project's own, with test-only audit chain and
signing-keys secrets when the environment gives none (the project refuses to start without
them unless DEBUG, and a test run must not depend on a local .env)."""

from __future__ import annotations

import os

os.environ.setdefault("AUDIT_CHAIN_KEY", "tests-only-audit-chain-key-never-used-elsewhere")
os.environ.setdefault("SIGNING_KEYS_SECRET", "tests-only-signing-keys-secret-never-used-elsewhere")

from metadata_admin.settings import *  # noqa: F403
