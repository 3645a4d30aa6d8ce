"""The layers point one way: event sources know nothing of locks.

``idemlock.sources`` parses events and builds keys; it imports only ``idemlock.errors`` and its
own modules. Per-record processing (``batch``), the decorators, the lock's state machine
(``_protocol``, ``_steps``, ``_drivers``), the dispatcher and the stores sit above it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import idemlock.sources

SOURCES = Path(idemlock.sources.__file__).parent
ABOVE_SOURCES = (
    "idemlock.batch",
    "idemlock._decorator",
    "idemlock._drivers",
    "idemlock._leases",
    "idemlock._policy",
    "idemlock._protocol",
    "idemlock._results",
    "idemlock._steps",
    "idemlock._unrecorded",
    "idemlock._invocation",
    "idemlock.lock",
    "idemlock._options",
    "idemlock.dispatch",
    "idemlock.store",
    "idemlock.dynamodb",
    "idemlock.testing",
)


BY_NAME = ("import_module", "__import__")
"""The calls that import a module by name, out of sight of a walk over import statements."""


def _by_name(node: ast.Call) -> str | None:
    """What a by-name import call imports: the module named, or ``?`` when it is computed."""
    function = node.func
    name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
    if name not in BY_NAME:
        return None
    first = node.args[0] if node.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else "?"


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement or a by-name import of ``path`` names (at any depth,
    under any ``if``); a by-name import of a computed name counts as ``?``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and (named := _by_name(node)) is not None:
            found += [(node.lineno, named)]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}:{node.lineno}: relative import"
            module = node.module or ""
            found += [(node.lineno, module)]
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


@pytest.mark.parametrize("path", sorted(SOURCES.glob("*.py")), ids=lambda path: path.name)
def test_sources_import_nothing_above_them(path: Path) -> None:
    """No module of idemlock.sources imports batch, the decorators, the claim steps, the
    dispatcher or a store: not at the top, not in a function, not for type checking."""
    wrong = [
        f"{path.name}:{line}: {name}"
        for line, name in _imports(path)
        if name == "?"
        or any(name == above or name.startswith(f"{above}.") for above in ABOVE_SOURCES)
    ]
    assert wrong == []


PACKAGE = SOURCES.parent


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py"),
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_no_module_imports_by_name(path: Path) -> None:
    """Only ``idemlock/__init__.py`` imports by name (its lazy re-exports, each a module below
    it): anywhere else an ``import_module`` or ``__import__`` would hide an arrow of the layers
    from every reader, the layer tests included."""
    calls = [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(node, ast.Call) and _by_name(node) is not None
    ]
    assert calls == []


def test_the_walk_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The walk above finds imports inside functions and under TYPE_CHECKING."""
    module = tmp_path / "bad.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from idemlock.batch import BatchOutcome\n"
        "def f():\n    import idemlock._lock\n"
        "def g(name):\n    importlib.import_module('idemlock.dispatch')\n"
        "    return __import__(name)\n"
    )
    names = [name for _, name in _imports(module)]
    assert "idemlock.batch" in names
    assert "idemlock._lock" in names
    assert "idemlock.dispatch" in names
    assert "?" in names


def test_importing_a_source_loads_no_lock_module() -> None:
    """``import idemlock.sources.s3`` loads none of the lock machinery (nor wrapt). (It loads
    ``idemlock.errors``, and with it ``idemlock.item``, whose ``utc_text`` writes the times in
    error messages: data and formatting, no lock logic.)"""
    code = (
        "import sys, idemlock.sources.s3\n"
        f"above = {ABOVE_SOURCES!r} + ('idemlock._cache', 'wrapt')\n"
        "print(sorted(m for m in sys.modules if m in above))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


@pytest.mark.parametrize("source", ["s3", "sqs", "eventbridge", "dynamodb_streams"])
def test_importing_a_source_loads_no_other_source(source: str) -> None:
    """A handler keyed by one source pays at cold start for that source alone: the package's
    ``__init__`` imports none of them, and only ``sources.batches`` (loaded with the first
    records handler) knows every source."""
    code = (
        f"import sys, idemlock.sources.{source}\n"
        "print(sorted(m for m in sys.modules if m.startswith('idemlock.sources.')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(ast.literal_eval(completed.stdout.strip()))
    assert loaded <= {f"idemlock.sources.{source}", "idemlock.sources._event"}, loaded
