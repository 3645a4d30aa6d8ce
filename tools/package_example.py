"""``python -m tools.package_example <example>``: a deployment package, as ``sam build`` makes.

    python -m tools.package_example sqs_orders          # examples/sqs_orders/.aws-sam/build/
    cd examples/sqs_orders && sam deploy --guided         # deploys what was just built

The output folder holds ``<FunctionLogicalId>/`` (the example's Python packages, with its
``requirements.txt`` installed next to them) and ``template.yaml`` with the function's
``CodeUri`` pointing there: ``sam deploy`` picks that template up as it does after ``sam build``.
idemlock is installed from a wheel built from this checkout, so no release of it needs to exist;
the rest of ``requirements.txt`` comes from the package index, as wheels for Lambda's platform.

With ``--use-layer`` the package leaves idemlock out: it comes from the layer
(``python -m tools.build_layer``) whose ARN the template's ``IdemlockLayerArn`` parameter takes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from tools.lambda_packaging import (
    ARCHITECTURES,
    DEFAULT_PYTHON,
    LAMBDA_PYTHONS,
    ROOT,
    Platform,
    build_wheel,
    install,
)

EXAMPLES_DIR: Final = ROOT / "examples"


class _TemplateLoader(yaml.SafeLoader):
    """Reads a template whatever its CloudFormation short tags (``!Ref``): only names matter."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)

_CODE_URI = re.compile(r"^(\s+CodeUri:\s*)\S+[ \t]*$", re.MULTILINE)
_RUNTIME = re.compile(r"^([ \t]+)Runtime:[ \t]*\S+[ \t]*$", re.MULTILINE)
_ARCHITECTURES = re.compile(r"^\s+Architectures:", re.MULTILINE)

_IDEMLOCK = re.compile(r"idemlock\b(?![.-])", re.IGNORECASE)
"""A requirement naming this project (``idemlock``, ``idemlock>=0.1``, ``idemlock[x]``)."""


def function_id(template: dict[str, Any]) -> str:
    """The logical ID of the template's one ``AWS::Serverless::Function``."""
    [logical_id] = [
        str(name)
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]
    return logical_id


def requirements(example_dir: Path, wheel: Path | None) -> list[str]:
    """The example's requirements, idemlock replaced by ``wheel`` (or left out if ``None``)."""
    found = []
    lines = (example_dir / "requirements.txt").read_text(encoding="utf-8").splitlines()
    for line in lines:
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        if _IDEMLOCK.match(requirement):
            if wheel is not None:
                found.append(str(wheel))
        else:
            found.append(requirement)
    return found


def code_packages(example_dir: Path) -> list[Path]:
    """The example's Python packages: what Lambda imports the handler from."""
    return sorted(
        path.parent
        for path in example_dir.glob("*/__init__.py")
        if not path.parent.name.startswith(".")
    )


def package_example(
    example: str,
    out_dir: Path,
    platform: Platform,
    *,
    wheel: Path,
    use_layer: bool = False,
    template_name: str = "template.yaml",
) -> Path:
    """Build ``example``'s package into ``out_dir`` (emptied first); the function's folder."""
    example_dir = EXAMPLES_DIR / example
    text = (example_dir / template_name).read_text(encoding="utf-8")
    logical_id = function_id(yaml.load(text, Loader=_TemplateLoader))
    shutil.rmtree(out_dir, ignore_errors=True)
    function_dir = out_dir / logical_id
    function_dir.mkdir(parents=True)
    for package in code_packages(example_dir):
        shutil.copytree(
            package, function_dir / package.name, ignore=shutil.ignore_patterns("__pycache__")
        )
    needed = requirements(example_dir, None if use_layer else wheel)
    if needed:
        install(needed, function_dir, platform)
    # Console scripts name the build host's interpreter: useless on Lambda.
    shutil.rmtree(function_dir / "bin", ignore_errors=True)
    built = built_template(text, logical_id, platform, template_name)
    (out_dir / "template.yaml").write_text(built, encoding="utf-8")
    return function_dir


def built_template(text: str, logical_id: str, platform: Platform, template_name: str) -> str:
    """The template as written (comments and short tags kept), for the package just built.

    Its code is the built folder, and its runtime and architecture are those the wheels were
    chosen for: deployed on another, a compiled extension would not load (wrapt's would fall
    back to pure Python without a word).
    """
    if _ARCHITECTURES.search(text):
        raise ValueError(f"{template_name}: Architectures is set by the build, remove it")
    built, count = _CODE_URI.subn(rf"\g<1>{logical_id}", text)
    if count != 1:
        raise ValueError(f"{template_name}: expected one CodeUri, found {count}")
    runtime = rf"\g<1>Runtime: {platform.runtime}\n\g<1>Architectures: [{platform.architecture}]"
    built, count = _RUNTIME.subn(runtime, built)
    if count != 1:
        raise ValueError(f"{template_name}: expected one Runtime, found {count}")
    return built


def main(argv: Sequence[str] | None = None) -> int:
    """Package the example the arguments name; print the function's folder."""
    examples = sorted(path.parent.name for path in EXAMPLES_DIR.glob("*/requirements.txt"))
    parser = argparse.ArgumentParser(prog="python -m tools.package_example", description=__doc__)
    parser.add_argument("example", choices=examples)
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), default="x86_64")
    parser.add_argument(
        "--python",
        choices=LAMBDA_PYTHONS,
        default=DEFAULT_PYTHON,
        help="the runtime's Python version",
    )
    parser.add_argument("--template", default="template.yaml", help="the example's SAM template")
    parser.add_argument(
        "--use-layer", action="store_true", help="leave idemlock out: it comes from the layer"
    )
    parser.add_argument(
        "--out", type=Path, help="where to build (default: the example's .aws-sam/build)"
    )
    args = parser.parse_args(argv)
    out_dir = args.out or EXAMPLES_DIR / args.example / ".aws-sam" / "build"
    with tempfile.TemporaryDirectory() as scratch:
        wheel = build_wheel(Path(scratch))
        platform = Platform(args.architecture, args.python)
        print(
            package_example(
                args.example,
                out_dir,
                platform,
                wheel=wheel,
                use_layer=args.use_layer,
                template_name=args.template,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
