"""The worker: long-poll a queue, run each job once to completion, delete its message.

It runs where Lambda does not fit — an ECS service, an EC2 instance, a long nightly job. A job
may take minutes, so its lease is short and kept alive by a heartbeat: while this worker lives,
nobody else takes the job; when it dies (a deploy, an OOM kill, a lost instance), the job's key
is free again about one lease later, and the message — visible again after the queue's
visibility timeout — is picked up by another worker, which takes the job over.

Configuration comes from the environment: ``QUEUE_URL``, ``IDEMLOCK_TABLE`` and the usual AWS
variables (``AWS_ENDPOINT_URL_SQS`` / ``AWS_ENDPOINT_URL_DYNAMODB`` for local endpoints).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3

from idemlock import current_lock, idempotent
from idemlock.errors import InProgressError

LEASE_S = 10.0
"""How long a dead worker blocks its job: short, since the heartbeat keeps a live one's alive."""

WAIT_S = 5
"""Long-poll time per receive: an empty queue costs one request per WAIT_S."""


def report(**fields: Any) -> None:
    """One JSON line per thing this worker did, on stdout (a log line in production)."""
    print(json.dumps(fields), flush=True)


def work(job: dict[str, Any]) -> dict[str, Any]:
    """The job itself: here, minutes of work simulated by a sleep. Idempotent per job id."""
    lock = current_lock()
    assert lock is not None
    report(event="started", job=job["id"], attempt=lock.attempt, fence=lock.fence)
    time.sleep(float(job.get("seconds", 1)))
    return {"job": job["id"], "done_by": os.getpid()}


def make_processor(lease_s: float = LEASE_S) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``work`` behind the lock: once per job id, its lease kept alive while it runs."""
    return idempotent(lambda job: job["id"], namespace="sqs-worker", lease=lease_s, heartbeat=True)(
        work
    )


def run(queue_url: str, *, lease_s: float = LEASE_S, max_polls: int | None = None) -> None:
    """Poll ``queue_url`` until stopped (or ``max_polls`` empty or full receives)."""
    sqs = boto3.client("sqs")
    process = make_processor(lease_s)
    polls = 0
    while max_polls is None or polls < max_polls:
        polls += 1
        response = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=WAIT_S
        )
        for message in response.get("Messages", []):
            job = json.loads(message["Body"])
            try:
                result = process(job)
            except InProgressError:
                # Another worker runs it now: leave the message; it comes back after its
                # visibility timeout, and is then a duplicate (deleted) or a takeover.
                report(event="in_progress", job=job["id"])
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            report(event="done", job=job["id"], result=result)


def main() -> int:
    """``python -m sqs_worker``: run until killed."""
    run(os.environ["QUEUE_URL"], lease_s=float(os.environ.get("LEASE_S", LEASE_S)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
