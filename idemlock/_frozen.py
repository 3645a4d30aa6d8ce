"""Read-only value objects that are cheap to define: the base of the options and attribute names.

A frozen dataclass writes and compiles its ``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` and
``__setattr__`` when its class is made: about 2 ms of a cold start per class (see
benchmarks/README.md). A class with ``__slots__``, an ``__init__`` of its own and these methods,
written once here, costs a hundredth of that, and reads its fields as fast.
"""

from __future__ import annotations

from typing import Any, ClassVar


class Frozen:
    """Fields named by ``__match_args__`` (in ``__init__``'s order) and held in ``__slots__``.

    A subclass names its fields in ``__match_args__``, sets ``__slots__`` to them, annotates
    them, and has its ``__init__`` call :meth:`_set` with every field's value in that order.
    Assigning or deleting a field afterwards raises ``dataclasses.FrozenInstanceError``, as on a
    frozen dataclass; equality, the hash, the repr, pattern matching and pickling follow the
    fields, as a frozen dataclass's do.
    """

    __slots__ = ()
    __match_args__: ClassVar[tuple[str, ...]] = ()

    def _set(self, *values: object) -> None:
        """Set every field once, in ``__match_args__`` order (only ``__init__`` calls this)."""
        for name, value in zip(self.__match_args__, values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def __setattr__(self, name: str, value: object) -> None:
        raise _frozen_error(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise _frozen_error(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frozen) and other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__qualname__}({fields})"

    def __reduce__(self) -> tuple[type[Frozen], tuple[Any, ...]]:
        # Unpickled by calling the class with the fields: slots restored one by one would meet
        # the read-only __setattr__.
        return type(self), self._values()


def _frozen_error(message: str) -> AttributeError:
    # Deferred: only a misuse pays for the import (an AttributeError, as from a frozen dataclass).
    from dataclasses import FrozenInstanceError  # noqa: PLC0415

    return FrozenInstanceError(message)
