"""``python -m idemlock``: the same as the ``idemlock`` command."""

from idemlock.cli import run

run()
