"""idemlock: run AWS Lambda handlers (and any function) at most once to completion per key.

A DynamoDB item per key is the lock: claimed with one conditional write, completed with the
result for duplicates, or released on failure so the event can run again. See the README.
"""

import typing

from idemlock._decorator import idempotent, idempotent_records
from idemlock._lock import Lock, current_lock
from idemlock._options import DEFAULT_LEASE, DEFAULT_RETENTION
from idemlock.dynamodb import AttributeNames, DynamoDBStore
from idemlock.record import Record, Status
from idemlock.store import Claim, ClaimResult, LockStore

if typing.TYPE_CHECKING:
    from idemlock.sources.dynamodb_streams import StreamDispatcher, StreamRecord

__version__ = "0.1.0"

# Names whose modules load on first use (PEP 562), so `import idemlock` stays light for a handler
# that never touches event sources: cold start is paid by every Lambda container.
_LAZY = {
    "StreamDispatcher": "idemlock.sources.dynamodb_streams",
    "StreamRecord": "idemlock.sources.dynamodb_streams",
}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'idemlock' has no attribute {name!r}")
    from importlib import import_module  # noqa: PLC0415

    value = getattr(import_module(module_name), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_RETENTION",
    "AttributeNames",
    "Claim",
    "ClaimResult",
    "DynamoDBStore",
    "Lock",
    "LockStore",
    "Record",
    "Status",
    "StreamDispatcher",
    "StreamRecord",
    "__version__",
    "current_lock",
    "idempotent",
    "idempotent_records",
]
