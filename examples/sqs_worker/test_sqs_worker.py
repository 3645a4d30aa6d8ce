"""Two worker processes, one killed mid-job: the other takes the job over once its lease ends.

SQS is moto's server (a real HTTP endpoint); the lock table is on DynamoDB Local.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import IO, Any

import boto3
import pytest

from idemlock.item import LockStatus
from tests.aws import REGION, fresh_table, local_aws_environment

HERE = Path(__file__).resolve().parent


class Worker:
    """``python -m sqs_worker`` in its own process, its JSON report lines read as they come."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sqs_worker"],
            cwd=HERE,
            env=environment,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(json.loads(line))

    def next(self, event: str, timeout: float = 30) -> dict[str, Any]:
        """The next report line of this kind."""
        while True:
            line = self.lines.get(timeout=timeout)
            if line["event"] == event:
                return line

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.mark.slow
def test_a_killed_workers_job_is_taken_over_once_its_lease_ends(
    dynamodb_local: str, s3_endpoint: str
) -> None:
    store = fresh_table(dynamodb_local)
    sqs = boto3.client(
        "sqs",
        endpoint_url=s3_endpoint,  # moto's server answers every service on one port
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    queue_url = sqs.create_queue(
        QueueName=f"jobs-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "2"}
    )["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"id": "job-1", "seconds": 3}))
    environment = {
        **os.environ,
        "QUEUE_URL": queue_url,
        "IDEMLOCK_TABLE": store.table_name,
        "LEASE_S": "1",
        "AWS_ENDPOINT_URL_SQS": s3_endpoint,
        **local_aws_environment(dynamodb_local),
    }

    first = Worker(environment)
    try:
        started = first.next("started")
        assert started["attempt"] == 1
    finally:
        first.kill()  # mid-job: its heartbeat dies with it

    second = Worker(environment)
    try:
        taken_over = second.next("started")
        done = second.next("done")
    finally:
        second.kill()

    assert taken_over["job"] == "job-1"
    assert taken_over["attempt"] == 2  # a takeover of the killed worker's claim
    assert taken_over["fence"] > started["fence"]
    assert done["job"] == "job-1"
    record = store.get("sqs-worker#job-1")
    assert record is not None
    assert record.status is LockStatus.COMPLETED
    left = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=3, VisibilityTimeout=0)
    assert left.get("Messages", []) == []  # the done job's message was deleted
