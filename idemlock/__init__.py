"""idemlock: run AWS Lambda handlers (and any function) at most once to completion per key.

A DynamoDB item per key is the lock: claimed with one conditional write, completed with the
result for duplicates, or released on failure so the event can run again. See the README.
"""

import typing

if typing.TYPE_CHECKING:
    from idemlock._decorator import idempotent, idempotent_records
    from idemlock._invocation import lambda_context
    from idemlock._options import DEFAULT_LEASE, DEFAULT_RETENTION
    from idemlock.dispatch import StreamDispatcher
    from idemlock.dynamodb import AttributeNames, DynamoDBStore
    from idemlock.http import idempotent_http
    from idemlock.item import LockItem, LockStatus
    from idemlock.lock import Lock, current_lock
    from idemlock.sources.dynamodb_streams import StreamRecord
    from idemlock.steps import step, step_async
    from idemlock.store import Claim, ClaimResult, LockStore

__version__ = "0.1.0"

# Every name loads its module on first use (PEP 562). A handler pays at cold start only for what
# it uses (no event sources without a batch), and `import idemlock.sources.s3` -- which runs
# this file first -- loads no lock module: the event sources stay a layer of their own.
_LAZY = {
    "DEFAULT_LEASE": "idemlock._options",
    "DEFAULT_RETENTION": "idemlock._options",
    "AttributeNames": "idemlock.dynamodb",
    "Claim": "idemlock.store",
    "ClaimResult": "idemlock.store",
    "DynamoDBStore": "idemlock.dynamodb",
    "Lock": "idemlock.lock",
    "LockItem": "idemlock.item",
    "LockStatus": "idemlock.item",
    "LockStore": "idemlock.store",
    "StreamDispatcher": "idemlock.dispatch",
    "StreamRecord": "idemlock.sources.dynamodb_streams",
    "current_lock": "idemlock.lock",
    "idempotent": "idemlock._decorator",
    "idempotent_http": "idemlock.http",
    "idempotent_records": "idemlock._decorator",
    "lambda_context": "idemlock._invocation",
    "step": "idemlock.steps",
    "step_async": "idemlock.steps",
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
    "LockItem",
    "LockStatus",
    "LockStore",
    "StreamDispatcher",
    "StreamRecord",
    "__version__",
    "current_lock",
    "idempotent",
    "idempotent_http",
    "idempotent_records",
    "lambda_context",
    "step",
    "step_async",
]
