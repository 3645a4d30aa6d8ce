"""Unit tests for the public surface: ``idemlock``, ``idemlock.errors`` and ``idemlock.testing``."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import idemlock
import idemlock.testing
from idemlock import errors
from idemlock.errors import (
    AccessDeniedError,
    IdemlockError,
    InProgressError,
    StoreError,
    TableMismatchError,
    TableNotFoundError,
)
from idemlock.testing import LambdaContext, ManualClock


def _isort_key(name: str) -> tuple[int, str]:
    """The order of ruff's RUF022 (isort-style): CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return 0, name
    if name[:1].isupper():
        return 1, name
    return 2, name


def _public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name in dir(module)
        if not name.startswith("_") and not isinstance(getattr(module, name), types.ModuleType)
    }


def _error_classes() -> list[type[BaseException]]:
    classes = [
        value
        for value in vars(errors).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == errors.__name__
    ]
    assert len(classes) > 1, "idemlock.errors defines no exception classes"
    return classes


# --- idemlock ----------------------------------------------------------------------------------


def test_all_is_sorted() -> None:
    """``idemlock.__all__`` is sorted (isort-style, as ruff's RUF022 enforces) without repeats."""
    assert idemlock.__all__ == sorted(idemlock.__all__, key=_isort_key)
    assert len(set(idemlock.__all__)) == len(idemlock.__all__)


def test_all_matches_public_names() -> None:
    """``__all__`` lists exactly the public non-module names of the package (and __version__)."""
    exported = {name for name in idemlock.__all__ if not name.startswith("_")}
    assert exported == _public_names(idemlock)
    assert {name for name in idemlock.__all__ if name.startswith("_")} <= {"__version__"}


def test_everything_in_all_is_importable() -> None:
    """``from idemlock import *`` binds every name in ``__all__``."""
    namespace: dict[str, object] = {}
    exec("from idemlock import *", namespace)
    missing = [name for name in idemlock.__all__ if name not in namespace]
    assert missing == []


def test_version_is_a_string() -> None:
    """``idemlock.__version__`` is a dotted version string."""
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", idemlock.__version__)


def test_py_typed_marker_ships_with_package() -> None:
    """``py.typed`` sits next to ``idemlock/__init__.py``, so the wheel marks the package typed."""
    package_dir = Path(idemlock.__file__).parent
    assert (package_dir / "__init__.py").is_file()
    assert (package_dir / "py.typed").is_file()


# --- idemlock.errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_subclasses_idemlock_error(cls: type[BaseException]) -> None:
    """Every exception class in idemlock.errors is an IdemlockError."""
    assert issubclass(cls, IdemlockError)


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_is_named_in_docstring_tree(cls: type[BaseException]) -> None:
    """Every exception class in idemlock.errors appears in the module docstring's tree."""
    assert errors.__doc__ is not None
    assert re.search(rf"\b{cls.__name__}\b", errors.__doc__)


def _docstring_tree() -> dict[str, str | None]:
    """Each class in the errors docstring tree mapped to the parent it is drawn under."""
    assert errors.__doc__ is not None
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in errors.__doc__.splitlines():
        match = re.match(r"^(\s*(?:[│├└─ ]*\s)?)([A-Z]\w*Error)\b", line)
        if match is None:
            continue
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[name] = stack[-1][1] if stack else None
        stack.append((depth, name))
    return parents


def test_docstring_tree_matches_class_hierarchy() -> None:
    """The errors docstring tree draws each class under its actual base class."""
    tree = _docstring_tree()
    actual = {
        cls.__name__: (
            None if cls is IdemlockError else cls.__bases__[0].__name__  # single inheritance
        )
        for cls in _error_classes()
    }
    assert tree == actual


def test_in_progress_error_carries_key_and_aware_utc_lease() -> None:
    """InProgressError exposes ``.key`` and ``.lease_expires_at`` as an aware UTC datetime."""
    error = InProgressError("orders#1", 1_800_000_000_000)
    assert error.key == "orders#1"
    assert error.lease_expires_at.tzinfo is not None
    assert error.lease_expires_at.utcoffset() == timedelta(0)
    assert error.lease_expires_at == datetime(2027, 1, 15, 8, tzinfo=timezone.utc)
    assert "orders#1" in str(error)


def _store_errors() -> list[tuple[StoreError, str]]:
    return [
        (StoreError("boom", operation="PutItem", key="orders#1"), "PutItem"),
        (TableNotFoundError("locks", operation="GetItem"), "GetItem"),
        (TableMismatchError("locks", "partition key is N, not S"), "create_table"),
        (
            AccessDeniedError("locks", ("dynamodb:PutItem",), operation="UpdateItem"),
            "UpdateItem",
        ),
    ]


@pytest.mark.parametrize(
    ("error", "operation"), _store_errors(), ids=[type(e).__name__ for e, _ in _store_errors()]
)
def test_store_errors_carry_operation(error: StoreError, operation: str) -> None:
    """Every StoreError (and subclass) records the store operation that failed."""
    assert isinstance(error, StoreError)
    assert error.operation == operation


def test_store_error_cases_cover_every_subclass() -> None:
    """The operation test above covers every StoreError subclass defined in idemlock.errors."""
    defined = {cls for cls in _error_classes() if issubclass(cls, StoreError)}
    assert {type(error) for error, _ in _store_errors()} == defined


def test_access_denied_message_lists_every_action() -> None:
    """AccessDeniedError's message names the table, the operation and every needed action."""
    actions = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
    error = AccessDeniedError("locks", actions, operation="PutItem", key="orders#1")
    message = str(error)
    for action in actions:
        assert action in message
    assert "locks" in message
    assert "PutItem" in message
    assert error.actions == actions
    assert error.key == "orders#1"


def test_table_not_found_message_names_table_and_create_table() -> None:
    """TableNotFoundError's message names the table and how to create it."""
    error = TableNotFoundError("my-lock-table", operation="PutItem")
    assert error.table == "my-lock-table"
    assert "my-lock-table" in str(error)
    assert "create_table" in str(error)


# --- idemlock.testing --------------------------------------------------------------------------


def test_testing_all_is_sorted_and_importable() -> None:
    """``idemlock.testing.__all__`` is sorted and every name in it is importable."""
    exported = idemlock.testing.__all__
    assert exported == sorted(exported, key=_isort_key)
    namespace: dict[str, object] = {}
    exec("from idemlock.testing import *", namespace)
    assert [name for name in exported if name not in namespace] == []


def test_manual_clock_stands_still_until_advanced() -> None:
    """ManualClock returns its start time until advanced, then the advanced time."""
    clock = ManualClock(start=1_800_000_000.0)
    assert clock() == 1_800_000_000.0
    assert clock() == 1_800_000_000.0
    clock.advance(2.5)
    assert clock() == 1_800_000_002.5
    clock.advance(60)
    assert clock() == 1_800_000_062.5


def test_lambda_context_reports_remaining_ms() -> None:
    """LambdaContext.get_remaining_time_in_millis() returns its ``remaining_ms``."""
    context = LambdaContext(remaining_ms=1_234)
    assert context.get_remaining_time_in_millis() == 1_234
    context.remaining_ms = 5
    assert context.get_remaining_time_in_millis() == 5


def test_import_stays_light() -> None:
    """``import idemlock`` plus a store and a decorated handler loads neither the event sources,
    nor batches, nor botocore: a Lambda cold start pays only for what it uses. (asyncio is
    imported plainly, not deferred: wrapt from 2.2 loads it anyway; with an older wrapt a cold
    start pays for it.)"""
    code = (
        "import sys, idemlock\n"
        "store = idemlock.DynamoDBStore('t')\n"
        "idemlock.idempotent(lambda e, c: e['id'], store=store)(lambda e, c: None)\n"
        "heavy = ('idemlock.batch', 'idemlock.sources', 'idemlock.dispatch', 'botocore')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert loaded[0] == "[]"


def test_rare_paths_load_on_first_use() -> None:
    """A handler without heartbeat=, local_cache= or on_event, whose logger is quiet, never
    loads the heartbeat, the local cache or the events module, however often it is called; an
    on_event sink loads the events when there is one to hand over."""
    code = (
        "import sys, idemlock\n"
        "from idemlock.testing import MemoryStore\n"
        "store = MemoryStore()\n"
        "handler = idemlock.idempotent(lambda e: e['id'], store=store, namespace='a')(\n"
        "    lambda e: None\n"
        ")\n"
        "handler({'id': 'a'}); handler({'id': 'a'})\n"
        "rare = ('idemlock._heartbeat', 'idemlock._cache', 'idemlock.events')\n"
        "print(sorted(m for m in rare if m in sys.modules))\n"
        "idemlock.idempotent(lambda e: e['id'], store=store, namespace='b', on_event=print)(\n"
        "    lambda e: None\n"
        ")\n"
        "print('idemlock.events' in sys.modules)\n"
    )
    before = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert before[0] == "[]"
    assert before[1] == "False"  # decorating with a sink loads nothing yet


def test_lazy_names_load_on_first_use() -> None:
    """``idemlock.StreamDispatcher`` loads its module on first access and is the real class."""
    from idemlock.dispatch import StreamDispatcher  # noqa: PLC0415

    assert idemlock.StreamDispatcher is StreamDispatcher
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        _ = idemlock.nonexistent


@pytest.mark.parametrize(
    ("module", "old"),
    [
        ("idemlock", "Record"),
        ("idemlock", "Status"),
        ("idemlock.sources.dynamodb_streams", "event_id"),
        ("idemlock.sources.dynamodb_streams", "StreamDispatcher"),
        ("idemlock.sources.dynamodb_streams", "StreamHandler"),
        ("idemlock.sources.dynamodb_streams", "HandlerList"),
    ],
)
def test_renamed_names_have_no_deprecated_alias(module: str, old: str) -> None:
    """Nothing was released, so a rename is a rename: the old names are gone, not aliased."""
    with pytest.raises(AttributeError):
        getattr(importlib.import_module(module), old)


def test_the_old_record_module_is_gone() -> None:
    """``idemlock.record`` (the lock item's old home) no longer exists: see ``idemlock.item``."""
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("idemlock.record")


def test_stream_records_have_no_event_id_alias() -> None:
    """``StreamRecord.sequence_key`` is the one name of the record's stream position."""
    from idemlock.sources.dynamodb_streams import StreamRecord  # noqa: PLC0415

    assert not hasattr(StreamRecord, "event_id")


def test_testing_does_not_import_pytest_or_hypothesis() -> None:
    """``import idemlock.testing`` loads neither pytest nor hypothesis: only the contract does."""
    code = (
        "import sys, idemlock.testing\n"
        "print(sorted(m for m in ('pytest', 'hypothesis', '_pytest') if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"
