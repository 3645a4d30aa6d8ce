"""The wheel built from this checkout: one version, the runtime dependencies, a slim demo extra.

``.ci/run`` also builds the sdist and wheel with ``python -m build``, checks them with ``twine
check --strict`` and runs this suite from the unpacked sdist.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

import idemlock
from tools.lambda_packaging import wheel_metadata

pytestmark = pytest.mark.slow  # the wheel is built with pip: tens of seconds on a busy machine


def test_the_version_has_one_source(wheel: Path) -> None:
    """The wheel's version is ``idemlock.__version__`` (hatch reads it from the package)."""
    assert wheel_metadata(wheel)["Version"] == idemlock.__version__
    assert wheel.name.startswith(f"idemlock-{idemlock.__version__}-py3-none-any")


def test_the_wheel_holds_the_package_only(wheel: Path) -> None:
    """Only ``idemlock/`` (typed) and its metadata: no tests, tools or examples."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert {name.split("/")[0] for name in names} == {
        "idemlock",
        f"idemlock-{idemlock.__version__}.dist-info",
    }
    assert "idemlock/py.typed" in names


def test_runtime_dependencies_and_a_slim_demo_extra(wheel: Path) -> None:
    """boto3, botocore and wrapt at run time; the demo extra is moto alone, without the server
    extra that would bring Flask, Docker and cfn-lint."""
    requirements = wheel_metadata(wheel).get_all("Requires-Dist") or []
    runtime = {r.split(">")[0] for r in requirements if ";" not in r}
    demo = [r.split(";")[0].strip() for r in requirements if "extra == 'demo'" in r]
    assert runtime == {"boto3", "botocore", "wrapt"}
    assert [r.split(">")[0] for r in demo] == ["moto"]


def test_the_wheel_carries_the_license_it_declares(wheel: Path) -> None:
    """pyproject says MIT: the license text ships in the wheel's metadata, as MIT requires."""
    assert wheel_metadata(wheel)["License-Expression"] == "MIT"
    with zipfile.ZipFile(wheel) as archive:
        licenses = [n for n in archive.namelist() if n.split("/")[-1].startswith("LICENSE")]
        assert len(licenses) == 1, archive.namelist()
        text = archive.read(licenses[0]).decode()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text
