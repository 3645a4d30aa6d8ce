"""``idemlock demo``: the whole story on an embedded DynamoDB, no AWS account needed.

An S3 upload is processed, the same notification delivered again is skipped, a failing file leaves
no lock, and its re-upload is processed. The embedded default is moto's DynamoDB-protocol server
in a thread (the ``demo`` extra); ``--endpoint-url`` points the demo at any other endpoint, such
as DynamoDB Local.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from idemlock import DynamoDBStore, idempotent
from idemlock.errors import ConfigurationError
from idemlock.sources import s3

BUCKET = "uploads"


def register(commands: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = commands.add_parser(
        "demo", help="run the S3 story on an embedded DynamoDB (or --endpoint-url)"
    )
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint (default: an embedded server)")
    parser.add_argument("--table", default=None, help="lock table name (default: a fresh one)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every step behaved as told."""
    with _endpoint(args.endpoint_url) as (endpoint_url, client):
        table = args.table or f"idemlock-demo-{uuid.uuid4().hex[:8]}"
        store = DynamoDBStore(table, client=client)
        store.create_table()
        print(f"lock table {table!r} at {endpoint_url}\n")
        return _story(store)


def _story(store: DynamoDBStore) -> int:
    imported: list[str] = []

    @idempotent(s3.object_key, store=store, namespace="demo.import_csv")
    def import_csv(event: dict[str, Any], context: object = None) -> dict[str, Any]:
        name = s3.objects(event)[0].key
        if "broken" in name and name not in imported:
            imported.append(name)  # the first upload of this file is malformed
            raise ValueError(f"{name}: row 3 has 2 columns, expected 3")
        imported.append(name)
        return {"imported": name, "rows": 3}

    steps = [
        ("1. s3://uploads/reports/2026+Q3.csv is uploaded", "reports/2026+Q3.csv"),
        ("2. S3 delivers the same notification again", "reports/2026+Q3.csv"),
        ("3. s3://uploads/broken.csv is uploaded and fails", "broken.csv"),
        ("4. broken.csv is fixed and uploaded again", "broken.csv"),
    ]
    outcomes = []
    for title, key in steps:
        print(title)
        before = len(imported)
        try:
            result = import_csv(_s3_event(key))
        except ValueError as exc:
            print(f"   handler failed: {exc} -> the lock is released")
            outcomes.append("failed")
        else:
            ran = len(imported) > before
            print(f"   {'processed' if ran else 'skipped (duplicate)'}: {result}")
            outcomes.append("processed" if ran else "skipped")
        _print_table(store)
    expected = ["processed", "skipped", "failed", "processed"]
    print("every step behaved as described" if outcomes == expected else f"UNEXPECTED: {outcomes}")
    return 0 if outcomes == expected else 1


def _s3_event(key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 120}},
            }
        ]
    }


def _print_table(store: DynamoDBStore) -> None:
    records = sorted(store.scan(), key=lambda record: record.key)
    print("   lock table:" if records else "   lock table: (empty)")
    width = max((len(record.key) for record in records), default=0)
    for record in records:
        print(
            f"     {record.key:<{width}}  {record.status.value:<11}  fence={record.fence}"
            f"  result={record.result}"
        )
    print()


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@contextmanager
def _endpoint(endpoint_url: str | None) -> Iterator[tuple[str, Any]]:
    """The endpoint and a client for it: the given one, or an embedded server's."""
    import botocore.session  # noqa: PLC0415  (deferred like the store's own client)

    session = botocore.session.get_session()
    if endpoint_url:
        yield (
            endpoint_url,
            session.create_client("dynamodb", endpoint_url=endpoint_url, region_name=_region()),
        )
        return
    try:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415  (an optional extra)
    except ImportError as exc:
        raise ConfigurationError(
            "the embedded DynamoDB needs the demo extra: pip install 'idemlock[demo]' "
            "(or pass --endpoint-url)"
        ) from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log over the story
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    embedded_url = f"http://127.0.0.1:{port}"
    try:
        # moto's server accepts any credentials, but botocore will not sign without some.
        yield (
            embedded_url,
            session.create_client(
                "dynamodb",
                endpoint_url=embedded_url,
                region_name="us-east-1",
                aws_access_key_id="demo",
                aws_secret_access_key="demo",
            ),
        )
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
