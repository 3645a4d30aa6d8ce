"""``idemlock demo``: the story on the embedded server or an endpoint, as a function and as a
subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from idemlock import DynamoDBStore
from idemlock.cli import main
from idemlock.testing import ManualClock
from tests.aws import make_client
from tests.cli_helpers import Run, as_json, command_env, hold


def test_demo_runs_the_story_on_the_embedded_server(capsys: pytest.CaptureFixture[str]) -> None:
    """`idemlock demo` processes, skips, fails without a lock, then processes the re-upload."""
    assert main(["demo"]) == 0

    out = capsys.readouterr().out
    assert "processed: {'imported': 'reports/2026 Q3.csv', 'rows': 3}" in out
    assert "skipped (duplicate)" in out
    assert "the lock is released" in out
    assert "every step behaved as described" in out


def test_demo_shows_an_http_retry_in_flight_and_a_replay(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The HTTP part: the retry in flight gets 409 with Retry-After, the first 201, the retry
    after it a replay, the same key for another order 422."""
    assert main(["demo", "--output", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["http_steps"] == ["201", "409", "replayed", "422"]
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "409, Retry-After: 30: A request with this Idempotency-Key is being processed" in out
    assert "201, Idempotent-Replayed: true" in out
    assert "every HTTP step behaved as described" in out


def test_demo_runs_against_dynamodb_local(
    dynamodb_local: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --endpoint-url the same story runs on the given endpoint, with the environment's
    credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    assert main(["demo", "--endpoint-url", dynamodb_local]) == 0
    assert dynamodb_local in capsys.readouterr().out


def test_demo_as_a_subprocess() -> None:
    """`python -m idemlock demo` exits 0 and prints the story."""
    done = subprocess.run(
        [sys.executable, "-m", "idemlock", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "every step behaved as described" in done.stdout


def test_demo_and_template_speak_json_for_scripts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--output json works on every command: the demo's steps, the template's text."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    assert main(["demo", "--output", "json"]) == 0
    demo = json.loads(capsys.readouterr().out)
    assert demo["steps"] == ["processed", "skipped", "failed", "processed"]
    assert demo["ok"] is True

    monkeypatch.setenv("IDEMLOCK_TABLE", "from-env")
    assert main(["template", "--format", "sam", "--output", "json"]) == 0
    template = json.loads(capsys.readouterr().out)
    assert (template["format"], template["table"]) == ("sam", "from-env")
    assert "TableName: from-env" in template["template"]


def _tables(endpoint_url: str) -> set[str]:
    pages = make_client(endpoint_url).get_paginator("list_tables").paginate()
    return {name for page in pages for name in page["TableNames"]}


def test_demo_deletes_the_table_it_made_on_an_endpoint(dynamodb_local: str) -> None:
    """With --endpoint-url the demo makes its own table, and deletes it when done."""
    before = _tables(dynamodb_local)

    done = subprocess.run(
        [sys.executable, "-m", "idemlock", "demo", "--endpoint-url", dynamodb_local],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=command_env(),
    )

    assert done.returncode == 0, done.stderr
    assert "every step behaved as described" in done.stdout
    assert "deleted the demo's table 'idemlock-demo-" in done.stdout
    assert _tables(dynamodb_local) == before


def test_demo_refuses_a_table_holding_other_items(store: DynamoDBStore, idemlock: Run) -> None:
    """demo --table NAME on a table with someone's locks: exit 1, and nothing written."""
    hold(store, "jobs#live", ManualClock(), lease=600, age=0)

    done = idemlock("demo", "--table", store.table_name)

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "holds items already" in done.stderr
    assert [record.key for record in store.scan()] == ["jobs#live"]


def test_demo_runs_in_an_empty_table_and_keeps_it(store: DynamoDBStore, idemlock: Run) -> None:
    """demo --table NAME on an empty table runs the story there; the table stays (it was not
    the demo's to delete)."""
    done = idemlock("demo", "--table", store.table_name, "--output", "json")

    report = as_json(done)
    assert (report["ok"], report["table_deleted"]) == (True, False)
    assert store.check_table()["TableName"] == store.table_name
