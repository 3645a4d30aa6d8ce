"""``python -m tools.package_example``: the built template runs the code on what it was built for.

The wheels in a package are chosen for one Lambda runtime and architecture (``--python``,
``--architecture``); deployed on another, wrapt's compiled extension would not load and wrapt
would fall back to pure Python without a word. So the built template states both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cloudformation import CloudFormationLoader
from tools.lambda_packaging import Platform
from tools.package_example import EXAMPLES_DIR, built_template, function_id, main

TEMPLATES = sorted(EXAMPLES_DIR.glob("*/template*.yaml"))


def _function(text: str) -> dict[str, object]:
    template = yaml.load(text, Loader=CloudFormationLoader)
    properties: dict[str, object] = template["Resources"][function_id(template)]["Properties"]
    return properties


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.parent.name + "/" + path.name)
@pytest.mark.parametrize(
    "platform",
    [Platform("arm64", "3.13"), Platform("x86_64", "3.10")],
    ids=lambda p: f"{p.runtime}-{p.architecture}",
)
def test_the_built_template_states_the_runtime_and_architecture(
    template: Path, platform: Platform
) -> None:
    """Every example's template, built: its function's Runtime and Architectures are the
    build's, its CodeUri the built folder; the rest is as written, comments included."""
    text = template.read_text(encoding="utf-8")
    logical_id = function_id(yaml.load(text, Loader=CloudFormationLoader))

    built = built_template(text, logical_id, platform, template.name)

    function = _function(built)
    assert function["Runtime"] == platform.runtime
    assert function["Architectures"] == [platform.architecture]
    assert function["CodeUri"] == logical_id
    changed = [line for line in built.splitlines() if line not in text.splitlines()]
    assert [line.split(":")[0].strip() for line in changed] == [
        "CodeUri",
        "Runtime",
        "Architectures",
    ]


def test_a_template_that_sets_the_architecture_is_refused() -> None:
    """The build states the architecture: a template that states one already is refused by name,
    not silently given two."""
    text = (EXAMPLES_DIR / "sqs_orders" / "template.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "      Runtime: python3.12\n", "      Runtime: python3.12\n      Architectures: [x86_64]\n"
    )

    with pytest.raises(ValueError, match=r"template\.yaml: Architectures is set by the build"):
        built_template(text, "ChargeFunction", Platform("arm64"), "template.yaml")


@pytest.mark.slow  # builds a package with pip: tens of seconds
def test_an_arm64_package_deploys_on_arm64(tmp_path: Path) -> None:
    """The command as a user types it, for arm64 and python3.13: the package's wrapt is
    compiled for aarch64 and CPython 3.13, and the built template runs it there."""
    out = tmp_path / "build"
    assert (
        main(["sqs_orders", "--architecture", "arm64", "--python", "3.13", "--out", str(out)]) == 0
    )

    function = _function((out / "template.yaml").read_text(encoding="utf-8"))
    assert (function["Runtime"], function["Architectures"]) == ("python3.13", ["arm64"])
    extensions = [path.name for path in (out / str(function["CodeUri"])).rglob("wrapt/*.so")]
    assert extensions
    assert all("cpython-313-aarch64-linux-gnu" in name for name in extensions), extensions
