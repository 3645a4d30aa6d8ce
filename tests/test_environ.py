"""The environment variables read on every call see what ``os.environ.get`` sees, always."""

from __future__ import annotations

import os
from unittest import mock

import pytest

from idemlock import idempotent
from idemlock._environ import EnvironmentVariable
from idemlock.testing import MemoryStore

NAME = "IDEMLOCK_TEST_VARIABLE"


def test_a_variable_follows_every_change_made_through_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(NAME, raising=False)
    variable = EnvironmentVariable(NAME)
    assert variable.get() is None
    monkeypatch.setenv(NAME, "one")
    assert variable.get() == "one"
    os.environ[NAME] = "two"
    assert variable.get() == "two"
    with mock.patch.dict(os.environ, {NAME: "three"}):
        assert variable.get() == "three"
    assert variable.get() == "two"
    del os.environ[NAME]
    assert variable.get() is None


def test_a_value_that_is_not_utf8_reads_as_os_environ_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(NAME, "caf\udce9")  # a Latin-1 byte, as os.environ decodes it
    assert EnvironmentVariable(NAME).get() == os.environ.get(NAME) == "caf\udce9"


def test_os_environ_replaced_by_another_mapping_is_read_through_it() -> None:
    variable = EnvironmentVariable(NAME)
    with mock.patch.object(os, "environ", {NAME: "from a plain dict"}):
        assert variable.get() == "from a plain dict"
    assert variable.get() == os.environ.get(NAME)


def test_the_switch_reads_a_replaced_os_environ() -> None:
    """``mock.patch.object(os, "environ", ...)`` switches idempotency off as setenv does."""
    store = MemoryStore()
    runs: list[str] = []

    @idempotent(lambda key: key, store=store)
    def body(key: str) -> None:
        runs.append(key)

    with mock.patch.object(os, "environ", {"IDEMLOCK_DISABLED": "1"}):
        body("a")
        body("a")
    assert runs == ["a", "a"]
    assert store.calls.total() == 0
    body("a")
    body("a")
    assert runs == ["a", "a", "a"]


def test_a_subclass_of_os_environ_answers_through_its_own_get() -> None:
    """A subclass may answer ``get`` its own way: it is asked, not its dict."""

    class Answering(type(os.environ)):  # type: ignore[misc]
        def get(self, key: str, default: object = None) -> object:
            return "its own answer" if key == NAME else super().get(key, default)

    environ = os.environ
    answering = Answering(
        environ._data,  # type: ignore[attr-defined]
        environ.encodekey,
        environ.decodekey,
        environ.encodevalue,
        environ.decodevalue,
    )
    variable = EnvironmentVariable(NAME)
    with mock.patch.object(os, "environ", answering):
        assert variable.get() == "its own answer"


def test_a_new_dict_inside_os_environ_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """``os.environ._data`` rebound (as some test helpers do) is read, not the old dict."""
    variable = EnvironmentVariable(NAME)
    monkeypatch.delenv(NAME, raising=False)
    assert variable.get() is None
    data = dict(os.environ._data)  # type: ignore[attr-defined]
    data[os.environ.encodekey(NAME)] = os.environ.encodevalue("in the new dict")
    monkeypatch.setattr(os.environ, "_data", data)
    assert variable.get() == "in the new dict"
