"""One uploaded object: read it from the notification record, import it, report what happened.

The report is logged as one JSON line (for CloudWatch Logs Insights) and returned; idemlock
stores it with the completed key and returns it to every duplicate delivery.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from idemlock.sources import s3
from s3_csv_import import service

logger = logging.getLogger(__name__)
# Lambda's root logger stops at WARNING; the import reports are INFO.
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def import_uploaded_object(record: Mapping[str, Any]) -> dict[str, Any]:
    """Import the users of the object one S3 notification record names; the report."""
    uploaded = s3.S3Object.from_record(record)  # the key URL-decoded: "a+b.csv" is "a b.csv"
    imported = service.import_users(uploaded.bucket, uploaded.key)
    report = {
        "bucket": uploaded.bucket,
        "key": uploaded.key,
        # The version the notification announced, and the one read: they differ when the file
        # was replaced before this (late or redelivered) notification ran.
        "notified": {"version_id": uploaded.version_id, "etag": uploaded.etag},
        "read": {"version_id": imported.version_id, "etag": imported.etag},
        "imported": imported.users,
    }
    logger.info(json.dumps({"event": "users_imported", **report}, ensure_ascii=False))
    return report
