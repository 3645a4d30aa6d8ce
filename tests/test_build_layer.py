"""``python -m tools.build_layer``: the Lambda layer zips and their template, opened and used.

Each zip must hold ``python/`` only (what Lambda puts on the path as ``/opt/python``), idemlock at
this checkout's version, and wrapt compiled for the zip's architecture and Python, never the
host's; boto3 and botocore stay out (the runtime has them). The template publishes each zip for
the runtime and architecture it was built for. The host's layer is then extracted and imported
from in a fresh interpreter that sees nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml

import idemlock
from tests.cloudformation import CloudFormationLoader
from tools.build_layer import (
    LAYER_ROOT,
    OUT_DIR,
    build_layer,
    layer_name,
    layer_requirements,
    main,
    write_template,
)
from tools.lambda_packaging import ARCHITECTURES, LAMBDA_PYTHONS, ROOT, Platform

PYTHONS = ("3.10", "3.13")
"""The oldest and newest Python the layers are built for here: each costs two pip installs."""

PLATFORMS = [Platform(a, p) for p in PYTHONS for a in sorted(ARCHITECTURES)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The command's own output folder: both architectures for each of PYTHONS, and the template."""
    out = tmp_path_factory.mktemp("layers")
    assert main(["--python", *PYTHONS, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def layers(built: Path) -> dict[Platform, Path]:
    """The zips the command built, by platform."""
    return {platform: built / layer_name(idemlock.__version__, platform) for platform in PLATFORMS}


def _wheel_tags(archive: zipfile.ZipFile, project: str) -> list[str]:
    """The ``Tag:`` lines of a project's ``.dist-info/WHEEL`` in the zip."""
    [wheel_file] = [
        name
        for name in archive.namelist()
        if name.startswith(f"{LAYER_ROOT}/{project}-") and name.endswith(".dist-info/WHEEL")
    ]
    return Parser().parsestr(archive.read(wheel_file).decode()).get_all("Tag") or []


@pytest.mark.slow  # builds with pip: tens of seconds
@pytest.mark.parametrize("platform", PLATFORMS, ids=lambda p: f"{p.runtime}-{p.architecture}")
def test_the_layer_holds_python_with_idemlock_and_wrapt_for_its_platform(
    platform: Platform, layers: dict[Platform, Path]
) -> None:
    """Everything is under python/; idemlock is there at this version, typed; wrapt's wheel
    and its compiled extension are for the zip's architecture and CPython version (named in the
    zip's name); boto3, botocore, console scripts and bytecode are not."""
    machine = platform.machine
    cpython = platform.python.replace(".", "")
    assert layers[platform].name.endswith(f"-python{platform.python}-{platform.architecture}.zip")
    with zipfile.ZipFile(layers[platform]) as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {LAYER_ROOT}
        tops = {name.split("/")[1] for name in names}
        assert {"idemlock", "wrapt", f"idemlock-{idemlock.__version__}.dist-info"} <= tops
        assert f"{LAYER_ROOT}/idemlock/py.typed" in names
        assert not tops & {"boto3", "botocore", "bin"}
        assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]

        tags = _wheel_tags(archive, "wrapt")
        assert tags
        assert all(tag.startswith(f"cp{cpython}-cp{cpython}-") for tag in tags), tags
        assert all(tag.endswith(f"_{machine}") for tag in tags), tags
        extensions = [name for name in names if name.endswith(".so")]
        assert extensions
        assert all(f"cpython-{cpython}-{machine}-linux-gnu" in name for name in extensions), (
            extensions
        )


@pytest.mark.slow  # builds with pip: tens of seconds
def test_the_template_publishes_each_zip_for_its_runtime_and_architecture(
    built: Path, layers: dict[Platform, Path]
) -> None:
    """template.yaml has one layer per zip: its content the zip (next to the template), its
    compatible runtime and architecture those the zip was built for."""
    template = yaml.load(
        (built / "template.yaml").read_text(encoding="utf-8"), Loader=CloudFormationLoader
    )
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    published = {}
    for resource in template["Resources"].values():
        assert resource["Type"] == "AWS::Serverless::LayerVersion"
        properties = resource["Properties"]
        [runtime] = properties["CompatibleRuntimes"]
        [architecture] = properties["CompatibleArchitectures"]
        published[Platform(architecture, runtime.removeprefix("python"))] = properties["ContentUri"]
    assert published == {platform: path.name for platform, path in layers.items()}
    assert all((built / name).is_file() for name in published.values())


def test_the_template_passes_cfn_lint(tmp_path: Path) -> None:
    """cfn-lint (the SAM schema of AWS::Serverless::LayerVersion, layer names, runtimes) finds
    nothing in the template of every layer the command builds."""
    layers = {
        Platform(architecture, python): tmp_path / layer_name("1.0", Platform(architecture, python))
        for python in LAMBDA_PYTHONS
        for architecture in ARCHITECTURES
    }
    template = write_template("1.0", layers, tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cfnlint.runner import main; main()",
            "--format",
            "parseable",
            str(template),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout) == (0, ""), done.stderr


def test_the_layers_go_outside_dist() -> None:
    """By default the zips go to build/layer, which git ignores: dist/ holds only the sdist and
    wheel, so `python -m build && twine check --strict dist/*` checks those alone."""
    assert OUT_DIR == ROOT / "build" / "layer"
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "build/" in ignored


def test_every_lambda_python_is_built_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without --python and --architecture, a layer for each Python that Lambda runs and
    idemlock supports, on each architecture; all in the template."""
    assert LAMBDA_PYTHONS == ("3.10", "3.11", "3.12", "3.13")
    asked: list[Platform] = []

    def record(wheel: Path, platform: Platform, out_dir: Path) -> Path:
        asked.append(platform)
        return out_dir / layer_name(idemlock.__version__, platform)

    monkeypatch.setattr("tools.build_layer.build_wheel", lambda out: out / "idemlock-0-py3.whl")
    monkeypatch.setattr("tools.build_layer.build_layer", record)

    assert main(["--out", str(tmp_path)]) == 0
    every = [Platform(a, p) for p in LAMBDA_PYTHONS for a in sorted(ARCHITECTURES)]
    assert asked == every
    template = yaml.safe_load((tmp_path / "template.yaml").read_text(encoding="utf-8"))
    assert len(template["Resources"]) == len(every)


@pytest.mark.slow  # builds with pip: tens of seconds
def test_the_layer_leaves_out_only_what_the_runtime_ships(wheel: Path) -> None:
    """The layer installs idemlock's requirements except boto3 and botocore."""
    requirements = layer_requirements(wheel)
    assert [r.split(">")[0] for r in requirements] == ["wrapt"]


@pytest.mark.slow  # builds with pip: tens of seconds
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
