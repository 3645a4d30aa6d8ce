"""The lock table and its least-privilege IAM policy as infrastructure code.

One module per tool: CloudFormation and SAM (:mod:`.cloudformation`), the Serverless Framework
(:mod:`.serverless`) and Terraform (:mod:`.terraform`); :mod:`.spec` holds what they share, and
:mod:`.yaml_emitter` writes the YAML ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from idemlock.cli.templates.cloudformation import cloudformation, sam
from idemlock.cli.templates.serverless import serverless
from idemlock.cli.templates.spec import Spec
from idemlock.cli.templates.terraform import terraform

TEMPLATES: Final[dict[str, Callable[[Spec], str]]] = {
    "cloudformation": cloudformation,
    "sam": sam,
    "serverless": serverless,
    "terraform": terraform,
}
"""Each ``--format`` and what writes it."""

__all__ = ["TEMPLATES", "Spec"]
