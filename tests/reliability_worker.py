"""A worker process for the crash and stale-owner tests: ``python -m tests.reliability_worker``.

It runs one idempotent call on DynamoDB Local and appends what happens to a ledger file, one line
per event (``O_APPEND`` writes of a short line are atomic), so the test can read it after the
process was killed or paused.
"""

from __future__ import annotations

import argparse
import os
import time

import boto3

from idemlock import DynamoDBStore, current_lock, idempotent
from idemlock.errors import IdemlockError


def append(ledger: str, line: str) -> None:
    """One line to the shared ledger."""
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def main() -> None:
    """Claim ``key``, note the fence, hold the body for ``--hold`` seconds, report the end."""
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("table")
    parser.add_argument("key")
    parser.add_argument("ledger")
    parser.add_argument("--lease", type=float, required=True)
    parser.add_argument("--hold", type=float, required=True)
    args = parser.parse_args()
    client = boto3.session.Session().client(
        "dynamodb",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    store = DynamoDBStore(args.table, client=client)

    @idempotent(lambda key: key, store=store, namespace="reliability", lease=args.lease)
    def body(key: str) -> str:
        lock = current_lock()
        assert lock is not None
        append(args.ledger, f"started {os.getpid()} {lock.fence}")
        time.sleep(args.hold)  # killed here (crash test), or paused past the lease
        append(args.ledger, f"finished {os.getpid()}")
        return f"done by {os.getpid()}"

    try:
        body(args.key)
    except IdemlockError as exc:
        append(args.ledger, f"error {os.getpid()} {type(exc).__name__}")
    else:
        append(args.ledger, f"completed {os.getpid()}")


if __name__ == "__main__":
    main()
