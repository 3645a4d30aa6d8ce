"""``python -m tools.build_layer``: the Lambda layer zips, opened and imported from.

Each zip must hold ``python/`` only (what Lambda puts on the path as ``/opt/python``), idemlock at
this checkout's version, and wrapt compiled for the zip's architecture and Python, never the
host's; boto3 and botocore stay out (the runtime has them). The host's layer is then extracted and
imported from in a fresh interpreter that sees nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import idemlock
from tools.build_layer import LAYER_ROOT, build_layer, layer_name, layer_requirements, main
from tools.lambda_packaging import ARCHITECTURES, Platform


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The command's own output: both architectures, for python3.12; by architecture."""
    out = tmp_path_factory.mktemp("layers")
    assert main(["--out", str(out)]) == 0
    return {
        architecture: out / layer_name(idemlock.__version__, Platform(architecture))
        for architecture in ARCHITECTURES
    }


def _wheel_tags(archive: zipfile.ZipFile, project: str) -> list[str]:
    """The ``Tag:`` lines of a project's ``.dist-info/WHEEL`` in the zip."""
    [wheel_file] = [
        name
        for name in archive.namelist()
        if name.startswith(f"{LAYER_ROOT}/{project}-") and name.endswith(".dist-info/WHEEL")
    ]
    return Parser().parsestr(archive.read(wheel_file).decode()).get_all("Tag") or []


@pytest.mark.parametrize("architecture", sorted(ARCHITECTURES))
def test_the_layer_holds_python_with_idemlock_and_wrapt_for_its_platform(
    architecture: str, layers: dict[str, Path]
) -> None:
    """Everything is under python/; idemlock is there at this version, typed; wrapt's wheel
    and its compiled extension are for the zip's architecture and CPython 3.12; boto3, botocore,
    console scripts and bytecode are not."""
    machine = ARCHITECTURES[architecture]
    with zipfile.ZipFile(layers[architecture]) as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {LAYER_ROOT}
        tops = {name.split("/")[1] for name in names}
        assert {"idemlock", "wrapt", f"idemlock-{idemlock.__version__}.dist-info"} <= tops
        assert f"{LAYER_ROOT}/idemlock/py.typed" in names
        assert not tops & {"boto3", "botocore", "bin"}
        assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]

        tags = _wheel_tags(archive, "wrapt")
        assert tags
        assert all(tag.startswith("cp312-cp312-") for tag in tags), tags
        assert all(tag.endswith(f"_{machine}") for tag in tags), tags
        extensions = [name for name in names if name.endswith(".so")]
        assert extensions
        assert all(f"cpython-312-{machine}-linux-gnu" in name for name in extensions), extensions


def test_the_layer_leaves_out_only_what_the_runtime_ships(wheel: Path) -> None:
    """The layer installs idemlock's requirements except boto3 and botocore."""
    requirements = layer_requirements(wheel)
    assert [r.split(">")[0] for r in requirements] == ["wrapt"]


def test_idemlock_imports_from_the_extracted_layer(wheel: Path, tmp_path: Path) -> None:
    """A fresh interpreter with only the layer (as /opt/python) and the standard library on its
    path imports idemlock and wrapt's compiled extension from the layer, and runs a decorated
    function on the in-memory store."""
    layer = build_layer(wheel, Platform.host(), tmp_path)
    with zipfile.ZipFile(layer) as archive:
        archive.extractall(tmp_path / "opt")
    site = tmp_path / "opt" / LAYER_ROOT
    code = f"""
import json, sys
sys.path.insert(0, {str(site)!r})
import idemlock, wrapt._wrappers
from idemlock.testing import MemoryStore
calls = []
@idemlock.idempotent(lambda order: order, store=MemoryStore(), namespace="layer")
def charge(order):
    calls.append(order)
    return len(calls)
json.dump({{"results": [charge("o-1"), charge("o-1")], "calls": calls,
            "idemlock": idemlock.__file__, "wrapt": wrapt._wrappers.__file__}}, sys.stdout)
"""
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert output["results"] == [1, 1]
    assert output["calls"] == ["o-1"]
    assert Path(output["idemlock"]).is_relative_to(site)
    assert Path(output["wrapt"]).is_relative_to(site)


def test_an_unknown_architecture_is_refused() -> None:
    """Only Lambda's two architectures can be asked for."""
    with pytest.raises(ValueError, match="one of x86_64, arm64"):
        Platform("i386")
