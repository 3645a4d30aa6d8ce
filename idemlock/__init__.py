"""idemlock: run AWS Lambda handlers (and any function) at most once to completion per key.

A DynamoDB item per key is the lock: claimed with one conditional write, completed with the
result for duplicates, or released on failure so the event can run again. See the README.
"""

from idemlock._decorator import idempotent, idempotent_records
from idemlock._lock import Lock, current_lock
from idemlock._options import DEFAULT_LEASE, DEFAULT_RETENTION
from idemlock.dynamodb import AttributeNames, DynamoDBStore
from idemlock.record import Record, Status
from idemlock.sources.dynamodb_streams import StreamDispatcher, StreamRecord
from idemlock.store import Claim, ClaimResult, LockStore

__version__ = "0.1.0"

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
