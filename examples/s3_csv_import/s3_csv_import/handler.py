"""The Lambda handler (``s3_csv_import.handler.handler``): each uploaded object imported once.

S3 invokes the function asynchronously, at least once per upload, with one or more records.
``@idempotent_records`` claims each object in the lock table (``IDEMLOCK_TABLE``) before the
import runs, marks it ``COMPLETED`` with the report afterwards, and releases it if the import
fails. A failed record makes the handler raise ``BatchFailedError`` once every record was tried,
so Lambda retries the event; the objects that completed are skipped on the retry.

What counts as "the same upload" is the key choice, ``IMPORT_KEY``:

- ``object_version`` (the default): ``bucket/key@versionId`` (``@eTag`` on an unversioned
  bucket). A duplicate notification is skipped; a changed file under the same name is a new
  version and is imported.
- ``object_key``: ``bucket/key``. A file name is imported once per retention window (24 h);
  re-uploading it, changed or not, is skipped. For uploads that get a fresh name every time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any, Final

from idemlock import idempotent_records
from idemlock.sources import s3
from s3_csv_import import action

NAMESPACE: Final = "s3-csv-import"
"""Prefix of this function's keys in the lock table; fixed, so a refactoring keeps them."""

KEY_ENV: Final = "IMPORT_KEY"
"""The environment variable choosing the key: a name in :data:`KEY_FUNCTIONS`."""

DEFAULT_KEY: Final = "object_version"

KEY_FUNCTIONS: Final[Mapping[str, Callable[[Mapping[str, Any]], str]]] = {
    "object_key": s3.object_key,
    "object_version": s3.object_version,
}


def import_key(record: Mapping[str, Any]) -> str:
    """The idempotency key of one notification record, as ``IMPORT_KEY`` chooses."""
    choice = os.environ.get(KEY_ENV, "").strip() or DEFAULT_KEY
    key_fn = KEY_FUNCTIONS.get(choice)
    if key_fn is None:
        # A ValueError, not a lookup error: idemlock would report those as a missing key.
        raise ValueError(f"{KEY_ENV}={choice!r}; choose one of {', '.join(KEY_FUNCTIONS)}")
    return key_fn(record)


@idempotent_records(import_key, namespace=NAMESPACE)
def handler(record: Mapping[str, Any], context: object) -> dict[str, Any]:
    """Import the object of one record; the report is stored and replayed to duplicates."""
    return action.import_uploaded_object(record)
