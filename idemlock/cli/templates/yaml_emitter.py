"""Block-style YAML for the templates, without a YAML library (none is a dependency)."""

from __future__ import annotations

import json
from typing import Any


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists and scalars (scalars quoted as JSON when needed)."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{to_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}\n")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                nested = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {nested.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(item)}\n")
    else:
        lines.append(f"{pad}{_scalar(value)}\n")
    return "".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if value in ({}, []):
        return json.dumps(value)
    text = str(value)
    plain = text.replace("-", "").replace("_", "").replace(".", "").replace("/", "")
    if (
        plain.isalnum()
        and not text[0].isdigit()
        and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off")
    ):
        return text
    return json.dumps(text)
