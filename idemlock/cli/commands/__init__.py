"""The subcommands, one module per verb (as pip's ``commands``).

Each has ``register`` (adds its parser and sets ``run``) and ``run(args) -> int`` (the exit
code).
"""

from __future__ import annotations

from idemlock.cli.commands import (
    create_table,
    demo,
    doctor,
    local,
    ls,
    purge,
    release,
    resolve,
    show,
    stats,
    template,
)

VERBS = (create_table, template, ls, show, stats, release, purge, doctor, local, demo, resolve)
"""Every subcommand's module, in the order ``idemlock --help`` lists them."""

__all__ = ["VERBS"]
