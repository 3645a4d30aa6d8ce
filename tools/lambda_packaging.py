"""What the layer and the example packages share: a wheel of this checkout, and wheels for Lambda.

pip installs wheels into a folder for Lambda's platform (an architecture and a Python version).

pip's ``--platform``/``--python-version``/``--only-binary=:all:`` make it pick the wheels Lambda
can load (wrapt's compiled extension for ``manylinux2014_aarch64`` on arm64, say) whatever the
host is: a source distribution is refused rather than built for the host by accident.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
"""The checkout."""

ARCHITECTURES: Final = {"x86_64": "x86_64", "arm64": "aarch64"}
"""Lambda's architecture names → the machine names of wheel platform tags."""

DEFAULT_PYTHON: Final = "3.12"
"""The Lambda runtime the examples' templates use (``python3.12``)."""

LAMBDA_PYTHONS: Final = ("3.10", "3.11", "3.12", "3.13")
"""The Python versions of Lambda's Python runtimes that idemlock supports (``requires-python``).

A compiled extension (wrapt's) loads on the Python version it was built for only, so each
version gets its own layer.
"""

RUNTIME_PROVIDED: Final = frozenset({"boto3", "botocore"})
"""What every Lambda Python runtime ships: a layer leaves them (and what they pull in) out."""


@dataclass(frozen=True)
class Platform:
    """Where the installed code will run: Lambda's architecture and Python version."""

    architecture: str = "x86_64"
    """``x86_64`` or ``arm64``, as Lambda names them."""
    python: str = DEFAULT_PYTHON
    """``major.minor``."""

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            known = ", ".join(ARCHITECTURES)
            raise ValueError(f"architecture {self.architecture!r}: one of {known}")

    @property
    def machine(self) -> str:
        """The machine name in wheel tags: ``x86_64`` or ``aarch64``."""
        return ARCHITECTURES[self.architecture]

    @property
    def runtime(self) -> str:
        """Lambda's runtime identifier, such as ``python3.12``."""
        return f"python{self.python}"

    def pip_options(self) -> list[str]:
        """The pip options that select this platform's wheels, and only wheels."""
        return [
            "--platform",
            f"manylinux2014_{self.machine}",  # glibc 2.17: every Python runtime's Amazon Linux
            "--implementation",
            "cp",
            "--python-version",
            self.python,
            "--only-binary=:all:",
        ]

    @classmethod
    def host(cls) -> Platform:
        """The platform of this interpreter, to run a package here (in tests)."""
        import platform  # noqa: PLC0415

        machines = {machine: name for name, machine in ARCHITECTURES.items()}
        return cls(machines[platform.machine()], f"{sys.version_info[0]}.{sys.version_info[1]}")


def build_wheel(out_dir: Path) -> Path:
    """A wheel of this checkout, built into ``out_dir``; its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        _pip("wheel", "--no-deps", "--wheel-dir", scratch, str(ROOT))
        [wheel] = Path(scratch).glob("idemlock-*.whl")
        target = out_dir / wheel.name
        target.unlink(missing_ok=True)
        wheel.rename(target)
    return target


def wheel_metadata(wheel: Path) -> Message:
    """A wheel's ``METADATA`` (``Version``, ``Requires-Dist``...)."""
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode("utf-8"))


def install(
    requirements: list[str], target: Path, platform: Platform, *, deps: bool = True
) -> None:
    """Install ``requirements`` (names, wheel paths) into ``target`` for ``platform``.

    ``deps=False`` installs exactly what is named.
    """
    _pip(
        "install",
        "--target",
        str(target),
        *platform.pip_options(),
        *([] if deps else ["--no-deps"]),
        "--upgrade",  # --target otherwise keeps a stale copy from an earlier build
        "--no-compile",  # bytecode of the build host's Python: Lambda's may differ
        *requirements,
    )


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )
