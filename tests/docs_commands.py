"""The shell commands of the docs, checked against the checkout without running them.

``tests/test_docs.py`` runs the ``idemlock`` commands of a ``bash`` block. The others install,
build or deploy (``pip install``, ``npm ci``, ``sam deploy``, ``npx serverless deploy``...): they
take minutes, a network or an AWS account, so each is held to what would make it work as written
from a checkout instead. The commands of one block are read in order, as a shell runs them: ``cd``
moves the block's folder (each block starts at the repository root), and a command that needs an
earlier step (``sam deploy`` a built package, ``serverless deploy`` its plugins and idemlock's
wheel) fails when the block does not take that step first.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

import idemlock
from tests.cloudformation import CloudFormationLoader

ROOT = Path(__file__).resolve().parent.parent

VENV = ".venv"
"""The virtualenv the docs' commands make and use (git-ignored)."""

WHEEL = f"dist/idemlock-{idemlock.__version__}-py3-none-any.whl"
"""The wheel ``python -m pip wheel --no-deps --wheel-dir dist .`` (or ``python -m build``) writes,
from the checkout's root."""

NO_RELEASE = (
    "idemlock has no release on any package index: install it from the checkout "
    f"(`pip install .`) or from its wheel (`pip install {WHEEL}`)"
)

AWS_CLI_COMMANDS = {("s3", "cp"), ("lambda", "publish-layer-version")}
"""The AWS CLI commands the docs may show (with placeholders for the reader's names)."""


@dataclass(frozen=True)
class Command:
    """One shell command of a block: environment assignments, then the words."""

    text: str
    env: dict[str, str]
    words: list[str]


@dataclass
class Shell:
    """What the commands of one block have done so far: the folder, and the steps taken."""

    cwd: Path = ROOT
    built: dict[Path, str] = field(default_factory=dict)
    """Example folder → the template ``tools.package_example`` built into its .aws-sam/build."""
    wheel_dirs: set[Path] = field(default_factory=set)
    """Folders idemlock's wheel was built into (``pip wheel``)."""
    npm_installed: dict[Path, set[str]] = field(default_factory=dict)
    """Folder → the npm packages installed there."""
    ran: list[list[str]] = field(default_factory=list)
    """The words of every command so far."""


def without_comment(line: str) -> str:
    """The line without its shell comment: a ``#`` that starts a word, outside quotes.

    ``import-users#x`` is one word, as in a shell (``shlex`` alone would cut it).
    """
    quote = ""
    for position, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (position == 0 or line[position - 1].isspace()):
            return line[:position]
    return line


def parse_commands(line: str) -> list[Command]:
    """The commands of one shell line: ``A=1 cmd args && cmd2 ... # comment``."""
    words = shlex.split(without_comment(line))
    commands, current = [], []
    for word in [*words, "&&"]:
        if word != "&&":
            current.append(word)
            continue
        assignments = {}
        while current and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", current[0]):
            name, _, value = current.pop(0).partition("=")
            assignments[name] = value
        assert current, f"an empty command in {line!r}"
        commands.append(Command(line, assignments, current))
        current = []
    return commands


def is_idemlock(command: Command) -> bool:
    """``idemlock ...`` or ``python -m idemlock ...``."""
    return command.words[0] == "idemlock" or command.words[:3] == ["python", "-m", "idemlock"]


def has_placeholder(command: Command) -> bool:
    """Whether the command holds a ``<name>`` for the reader to fill in."""
    return any(re.search(r"<[^>]+>", word) for word in command.words)


# -- what the repository declares ----------------------------------------------------------------


def _optional_dependencies() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]


def pyproject_extras() -> set[str]:
    """The extras pyproject.toml declares (``[project.optional-dependencies]``)."""
    return set(re.findall(r"^([\w-]+)\s*=", _optional_dependencies(), flags=re.MULTILINE))


def requirements(extra: str) -> set[str]:
    """The distribution names an extra of pyproject.toml lists."""
    section = _optional_dependencies()
    found = re.search(rf"^{extra} = \[(.*?)\]$", section, flags=re.MULTILINE | re.DOTALL)
    assert found, f"no extra {extra!r} in pyproject.toml"
    return set(re.findall(r'"([\w-]+)', found[1]))


def read_by_the_code(variable: str) -> bool:
    """Whether the library, its tests or the examples read this environment variable."""
    sources = [
        *ROOT.glob("idemlock/**/*.py"),
        *ROOT.glob("tests/*.py"),
        *ROOT.glob("examples/**/*.py"),
    ]
    mine = {Path(__file__).resolve(), ROOT / "tests" / "test_docs.py"}
    return any(
        variable in path.read_text(encoding="utf-8")
        for path in sources
        if path.resolve() not in mine
    )


def _yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CloudFormationLoader)


# -- the checks ----------------------------------------------------------------------------------


def check_repository_command(command: Command, shell: Shell | None = None) -> None:
    """A command that is not run: what it names must exist, and the steps it needs come first."""
    shell = shell if shell is not None else Shell()
    for variable in command.env:
        assert read_by_the_code(variable), f"{command.text!r}: nothing reads {variable}"
    words = command.words
    if not (
        _checked_shell_builtin(command, shell)
        or _checked_python_command(command, shell)
        or _checked_node_command(command, shell)
        or _checked_deploy_command(command, shell)
        or _checked_tool(command, shell)
    ):
        pytest.fail(f"{command.text!r}: the docs test does not know how to check {words[0]!r}")
    shell.ran.append(words)


def _checked_shell_builtin(command: Command, shell: Shell) -> bool:
    """``cd``, ``export``, and activating the virtualenv."""
    words = command.words
    if words[0] == "cd":
        target = (shell.cwd / words[1]).resolve()
        assert target.is_dir(), f"{command.text!r}: no folder {target}"
        shell.cwd = target
    elif words[0] == "export":
        for assignment in words[1:]:
            variable = assignment.partition("=")[0]
            assert read_by_the_code(variable), f"{command.text!r}: nothing reads {variable}"
    elif words[0] in (".", "source"):
        assert words[1:] == [f"{VENV}/bin/activate"], f"{command.text!r}: not the virtualenv"
    else:
        return False
    return True


def _checked_python_command(command: Command, shell: Shell) -> bool:
    """The virtualenv, pip, pytest, the build and ``python -m`` a module of the checkout."""
    words = command.words
    if words[:3] == ["python3", "-m", "venv"]:
        assert words[3:] == [VENV], f"{command.text!r}: the virtualenv is {VENV}"
        assert f"{VENV}/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    elif words[:2] == ["pip", "install"] or words[:4] == ["python", "-m", "pip", "install"]:
        _check_pip_install(command, shell)
    elif words[:4] == ["python", "-m", "pip", "wheel"]:
        _check_pip_wheel(command, shell)
    elif words[:3] == ["python", "-m", "pytest"]:
        # After these options comes their value (`-m "not slow"`, `-n auto`), not a path.
        valued = {"-k", "-m", "-n", "-p"}
        for before, word in itertools.pairwise(words[2:]):
            if not word.startswith("-") and before not in valued:
                path = shell.cwd / word.split("::")[0]
                assert path.exists(), f"{command.text!r}: {word} does not exist"
    elif words[:3] == ["python", "-m", "tools.package_example"]:
        _check_package_example(command, shell)
    elif words[:2] == ["python", "-m"]:
        module = words[2].split(".")
        assert any(
            (folder.joinpath(*module) / "__main__.py").is_file()
            or folder.joinpath(*module).with_suffix(".py").is_file()
            for folder in (shell.cwd, ROOT)
        ) or words[2] in requirements("dev"), (
            f"{command.text!r}: no module {words[2]} here or in the dev extra"
        )
    else:
        return False
    return True


def _check_pip_install(command: Command, shell: Shell) -> None:
    """Only this project, from the checkout or its built wheel: it is on no package index."""
    words = command.words[2:] if command.words[0] == "pip" else command.words[4:]
    targets = [word for word in words if word != "-e"]
    assert targets, f"{command.text!r}: installs nothing"
    for target in targets:
        if re.fullmatch(r"idemlock(\[[\w,-]+\])?", target):
            raise AssertionError(f"{command.text!r}: {NO_RELEASE}")
        if target == WHEEL:
            assert ROOT / "dist" in shell.wheel_dirs or ["python", "-m", "build"] in shell.ran, (
                f"{command.text!r}: nothing writes {WHEEL} before it"
            )
            assert shell.cwd == ROOT, f"{command.text!r}: {WHEEL} is relative to the root"
            continue
        found = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", target)
        assert found, f"{command.text!r}: {target!r} is not this project (or not its {WHEEL})"
        assert shell.cwd == ROOT, f"{command.text!r}: `.` is the checkout only at its root"
        extras = set(found[1].split(",")) if found[1] else set()
        known = pyproject_extras()
        assert extras <= known, f"{command.text!r}: no extra {extras - known} in pyproject"


def _check_pip_wheel(command: Command, shell: Shell) -> None:
    """``python -m pip wheel --no-deps --wheel-dir DIR CHECKOUT``: idemlock's wheel alone."""
    words = command.words[4:]
    assert "--no-deps" in words, f"{command.text!r}: idemlock's wheel alone needs --no-deps"
    assert "--wheel-dir" in words, f"{command.text!r}: the wheel's folder must be named"
    directory = words[words.index("--wheel-dir") + 1]
    [source] = [word for word in words if not word.startswith("-") and word != directory]
    assert (shell.cwd / source).resolve() == ROOT, f"{command.text!r}: {source} is not the checkout"
    shell.wheel_dirs.add((shell.cwd / directory).resolve())


def _check_package_example(command: Command, shell: Shell) -> None:
    """``python -m tools.package_example EXAMPLE [--template T]``, from the root."""
    words = command.words[3:]
    assert shell.cwd == ROOT, f"{command.text!r}: tools.package_example runs from the root"
    example = ROOT / "examples" / words[0]
    assert (example / "requirements.txt").is_file(), f"{command.text!r}: no example {words[0]}"
    template = words[words.index("--template") + 1] if "--template" in words else "template.yaml"
    assert (example / template).is_file(), f"{command.text!r}: no {template} in {example}"
    shell.built[example] = template


def _checked_node_command(command: Command, shell: Shell) -> bool:
    """``npm ci`` at the root; ``npm install`` of what a ``serverless.yml`` needs."""
    words = command.words
    if words[0] != "npm":
        return False
    if shell.cwd == ROOT:
        assert words[1:] in (["ci"], ["install"]), f"{command.text!r}: not an npm install"
        assert (ROOT / "package.json").is_file()
        assert (ROOT / "package-lock.json").is_file(), "npm ci needs package-lock.json"
        return True
    config = _yaml(shell.cwd / "serverless.yml")
    wanted = {f"serverless@{config['frameworkVersion']}", *config.get("plugins", [])}
    assert words[1:3] == ["install", "--save-dev"], f"{command.text!r}: not a dev install"
    assert set(words[3:]) == wanted, f"{command.text!r}: serverless.yml needs {sorted(wanted)}"
    shell.npm_installed[shell.cwd] = set(words[3:])
    return True


def _checked_deploy_command(command: Command, shell: Shell) -> bool:
    """``sam deploy`` of a package built first; ``npx serverless deploy`` with what it needs."""
    words = command.words
    if words[:2] == ["sam", "deploy"]:
        template = shell.built.get(shell.cwd)
        assert template, f"{command.text!r}: nothing built here (python -m tools.package_example)"
        assert not {"-t", "--template-file", "--template"} & set(words), (
            f"{command.text!r}: a template named here is deployed unbuilt, without idemlock"
        )
        parameters = _yaml(shell.cwd / template).get("Parameters", {})
        _check_overrides(command, _values_after(words, "--parameter-overrides"), parameters)
    elif words[:3] == ["npx", "serverless", "deploy"]:
        config = _yaml(shell.cwd / "serverless.yml")
        assert shell.cwd in shell.npm_installed, f"{command.text!r}: its plugins are not installed"
        settings = config["custom"]["pythonRequirements"]
        links = [a.split()[-1] for a in settings["pipCmdExtraArgs"] if a.startswith("--find-links")]
        assert {(shell.cwd / link).resolve() for link in links} & shell.wheel_dirs, (
            f"{command.text!r}: idemlock's wheel is not built where serverless.yml finds it"
        )
        params = [w.removeprefix("--param=") for w in words if w.startswith("--param=")]
        _check_overrides(command, params, config.get("params", {}).get("default", {}))
    else:
        return False
    return True


def _values_after(words: list[str], option: str) -> list[str]:
    """The words after ``option`` up to the next option."""
    if option not in words:
        return []
    values = []
    for word in words[words.index(option) + 1 :]:
        if word.startswith("-"):
            break
        values.append(word)
    return values


def _check_overrides(command: Command, assignments: list[str], declared: Any) -> None:
    for assignment in assignments:
        name = assignment.partition("=")[0]
        assert name in declared, f"{command.text!r}: the stack declares no parameter {name}"


def _checked_tool(command: Command, shell: Shell) -> bool:
    """Linters, the docs site, twine, Java for DynamoDB Local, ``curl`` to an API, the AWS CLI,
    ``bash .ci/run``."""
    words = command.words
    if words[0] in ("ruff", "mypy"):
        pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
        assert f"[tool.{words[0]}]" in pyproject, f"{command.text!r}: not configured in pyproject"
    elif words[0] == "bash":
        assert (shell.cwd / words[1]).is_file(), f"{command.text!r}: {words[1]} does not exist"
    elif words[0] == "twine":
        assert "twine" in requirements("dev"), f"{command.text!r}: twine is not in the dev extra"
    elif words[0] == "mkdocs":
        assert "mkdocs-material" in requirements("docs"), f"{command.text!r}: no docs extra"
        assert (ROOT / "mkdocs.yml").is_file(), f"{command.text!r}: no mkdocs.yml"
    elif words[0] == "java":
        jar = shell.cwd / words[words.index("-jar") + 1]
        assert jar.is_file(), f"{command.text!r}: no {jar} (after `npm ci`)"
        [library] = [w.partition("=")[2] for w in words if w.startswith("-Djava.library.path=")]
        assert (shell.cwd / library).is_dir(), f"{command.text!r}: no {library}"
        assert "-disableTelemetry" in words, (
            f"{command.text!r}: without -disableTelemetry DynamoDB Local phones home and leaves "
            "dynamodb-local-metadata.json behind"
        )
    elif words[0] == "curl":
        # A request to a deployed API (docs/http.md): not run; it must send the key it is about.
        sent = [word.lower() for word in words]
        assert any(word.startswith("idempotency-key:") for word in sent), (
            f"{command.text!r}: a curl example sends an Idempotency-Key header"
        )
    elif words[0] == "aws":
        assert tuple(words[1:3]) in AWS_CLI_COMMANDS, f"{command.text!r}: not a known AWS command"
    else:
        return False
    return True
