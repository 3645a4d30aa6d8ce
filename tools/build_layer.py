"""``python -m tools.build_layer``: idemlock as a Lambda layer, one zip per architecture.

Each zip holds ``python/`` (where Lambda's Python runtimes look in ``/opt``) with idemlock, from a
wheel of this checkout, and its dependencies the runtime does not ship (wrapt, compiled for the
zip's architecture). boto3 and botocore are left out, as Powertools' layer leaves them out: every
Python runtime has them.

    python -m tools.build_layer       # dist/idemlock-layer-<version>-python3.12-<arch>.zip, both
    python -m tools.build_layer --python 3.11 --architecture arm64

Publish one with ``aws lambda publish-layer-version --layer-name idemlock --zip-file
fileb://dist/<zip> --compatible-runtimes python3.12 --compatible-architectures x86_64``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from tools.lambda_packaging import (
    ARCHITECTURES,
    DEFAULT_PYTHON,
    ROOT,
    RUNTIME_PROVIDED,
    Platform,
    build_wheel,
    install,
    wheel_metadata,
)

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
    """Build the layers the arguments ask for; print their paths."""
    parser = argparse.ArgumentParser(prog="python -m tools.build_layer", description=__doc__)
    parser.add_argument(
        "--architecture",
        nargs="+",
        choices=sorted(ARCHITECTURES),
        default=sorted(ARCHITECTURES),
        help="Lambda architectures to build for (default: both)",
    )
    parser.add_argument("--python", default=DEFAULT_PYTHON, help="the runtime's Python version")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the zips go")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        wheel = build_wheel(Path(scratch))
        for architecture in args.architecture:
            print(build_layer(wheel, Platform(architecture, args.python), args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
