"""Helpers for the event-source tests: the reference events in ``tests/events``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent / "events"


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of ``tests/events/<name>.json`` (the ``.json`` may be left out)."""
    filename = name if name.endswith(".json") else f"{name}.json"
    event: dict[str, Any] = json.loads((EVENTS / filename).read_text(encoding="utf-8"))
    return event


def record_of(name: str, index: int = 0) -> dict[str, Any]:
    """Record ``index`` of the reference event ``name``."""
    record: dict[str, Any] = load_event(name)["Records"][index]
    return record


def single(name: str, index: int = 0) -> dict[str, Any]:
    """A whole event holding only record ``index`` of the reference event ``name``."""
    return {"Records": [record_of(name, index)]}
