"""What every management command shares: who the CLI acts as."""

from __future__ import annotations

import getpass

from users.audit import Actor, Context
from users.models import ActorKind, Channel


def cli_context() -> Context:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Context(actor=Actor(ActorKind.SYSTEM, "", f"cli:{who}"), channel=Channel.CLI)
