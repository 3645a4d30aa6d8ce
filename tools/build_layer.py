"""``python -m tools.build_layer``: idemlock as Lambda layers, one zip per Python and architecture.

Each zip holds ``python/`` (where Lambda's Python runtimes look in ``/opt``) with idemlock, from a
wheel of this checkout, and its dependencies the runtime does not ship (wrapt, compiled for the
zip's Python version and architecture: its extension loads on that version only). boto3 and
botocore are left out, as Powertools' layer leaves them out: every Python runtime has them.

    python -m tools.build_layer       # build/layer/: Python 3.10 to 3.13, both architectures
    python -m tools.build_layer --python 3.11 --architecture arm64

The zips go to ``build/layer/``, not ``dist/``, which holds the sdist and wheel ``twine check``
reads. Next to them, ``template.yaml``: a SAM template of one ``AWS::Serverless::LayerVersion`` per
zip, its ``CompatibleRuntimes`` and ``CompatibleArchitectures`` those it was built for, so ``sam
deploy --template build/layer/template.yaml --guided`` publishes them all. One by hand: ``aws
lambda publish-layer-version --layer-name idemlock-python312-x86_64 --zip-file
fileb://build/layer/<zip> --compatible-runtimes python3.12 --compatible-architectures x86_64``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from tools.lambda_packaging import (
    ARCHITECTURES,
    LAMBDA_PYTHONS,
    ROOT,
    RUNTIME_PROVIDED,
    Platform,
    build_wheel,
    install,
    wheel_metadata,
)

OUT_DIR: Final = ROOT / "build" / "layer"
"""Where the zips go by default: not ``dist/``, whose every file ``twine check`` reads."""

LAYER_ROOT = "python"
"""The folder of a layer zip that Lambda puts on ``sys.path`` (as ``/opt/python``)."""

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every entry's timestamp: the same sources make the same zip."""


def layer_name(version: str, platform: Platform) -> str:
    """The zip's file name: ``idemlock-layer-<version>-python3.12-x86_64.zip``."""
    return f"idemlock-layer-{version}-{platform.runtime}-{platform.architecture}.zip"


def wheel_version(wheel: Path) -> str:
    """The version in a wheel's file name (``name-version-tags.whl``)."""
    return wheel.name.split("-")[1]


def layer_requirements(wheel: Path) -> list[str]:
    """The wheel's unconditional requirements, less what the Lambda runtime ships."""
    requirements = []
    for requirement in wheel_metadata(wheel).get_all("Requires-Dist") or []:
        if ";" in requirement:  # an extra's, or for another Python: not the layer's
            continue
        name = requirement.split("[")[0].split("<")[0].split(">")[0].split("=")[0].split("!")[0]
        if name.strip().lower() not in RUNTIME_PROVIDED:
            requirements.append(requirement.strip())
    return requirements


def build_layer(wheel: Path, platform: Platform, out_dir: Path) -> Path:
    """The layer zip of ``wheel`` for ``platform``, written into ``out_dir``; its path."""
    with tempfile.TemporaryDirectory() as scratch:
        site = Path(scratch) / LAYER_ROOT
        install([str(wheel)], site, platform, deps=False)
        install(layer_requirements(wheel), site, platform)
        # pip's console scripts start with the build host's interpreter path: useless in /opt.
        shutil.rmtree(site / "bin", ignore_errors=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / layer_name(wheel_version(wheel), platform)
        _zip(site, target)
    return target


def layer_id(platform: Platform) -> str:
    """The layer's name in AWS and, in CamelCase, its logical ID: ``idemlock-python312-x86_64``.

    Layer names allow letters, digits, ``-`` and ``_`` only: the version loses its dot.
    """
    return f"idemlock-{platform.runtime.replace('.', '')}-{platform.architecture}"


def layer_template(version: str, layers: Mapping[Platform, Path]) -> dict[str, Any]:
    """The SAM template publishing ``layers`` (zips by platform, in one folder) as built."""
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for platform, zip_path in layers.items():
        logical_id = "".join(part.capitalize() for part in layer_id(platform).split("-"))
        logical_id = logical_id.replace("_", "")
        resources[logical_id] = {
            "Type": "AWS::Serverless::LayerVersion",
            "Properties": {
                "LayerName": layer_id(platform),
                "Description": f"idemlock {version} for {platform.runtime} on "
                f"{platform.architecture}",
                "ContentUri": zip_path.name,
                "CompatibleRuntimes": [platform.runtime],
                "CompatibleArchitectures": [platform.architecture],
                "LicenseInfo": "MIT",
            },
        }
        outputs[f"{logical_id}Arn"] = {
            "Description": f"The ARN of the layer for {platform.runtime} on "
            f"{platform.architecture}: a function's Layers (IdemlockLayerArn in the examples)",
            "Value": {"Ref": logical_id},
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"idemlock {version} as Lambda layers, by Python version and architecture",
        "Resources": resources,
        "Outputs": outputs,
    }


def write_template(version: str, layers: Mapping[Platform, Path], out_dir: Path) -> Path:
    """Write ``template.yaml`` for ``layers`` (built into ``out_dir``) there; its path."""
    target = out_dir / "template.yaml"
    header = "# Written by `python -m tools.build_layer`: deploy with `sam deploy --guided`.\n"
    body = yaml.safe_dump(layer_template(version, layers), sort_keys=False, width=100)
    target.write_text(header + body, encoding="utf-8")
    return target


def _zip(site: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(site.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            entry = zipfile.ZipInfo(path.relative_to(site.parent).as_posix(), _ZIP_TIME)
            entry.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, path.read_bytes())


def main(argv: Sequence[str] | None = None) -> int:
    """Build the layers the arguments ask for and their template; print their paths."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.build_layer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--architecture",
        nargs="+",
        choices=sorted(ARCHITECTURES),
        default=sorted(ARCHITECTURES),
        help="Lambda architectures to build for (default: both)",
    )
    parser.add_argument(
        "--python",
        nargs="+",
        choices=LAMBDA_PYTHONS,
        default=list(LAMBDA_PYTHONS),
        help="the runtimes' Python versions (default: all of them)",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the zips go")
    args = parser.parse_args(argv)
    layers = {}
    with tempfile.TemporaryDirectory() as scratch:
        wheel = build_wheel(Path(scratch))
        version = wheel_version(wheel)
        for python in args.python:
            for architecture in args.architecture:
                platform = Platform(architecture, python)
                layers[platform] = build_layer(wheel, platform, args.out)
                print(layers[platform])
    print(write_template(version, layers, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
