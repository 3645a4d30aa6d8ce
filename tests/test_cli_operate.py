"""The ``idemlock`` command against DynamoDB Local, run as a subprocess as operators run it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from idemlock import DynamoDBStore, current_lock, idempotent
from idemlock.cli import main
from idemlock.dynamodb import RUNTIME_ACTIONS
from idemlock.errors import AccessDeniedError, LockLostError
from idemlock.item import LockStatus
from idemlock.testing import ManualClock
from tests.aws import make_client
from tests.cli_helpers import Run, as_json, command_env, hold, populate


def test_create_table_creates_waits_and_accepts_a_matching_table(
    dynamodb_local: str, idemlock: Run
) -> None:
    """create-table NAME makes an on-demand table with TTL; again, it says it exists (exit 0)."""
    name = f"ops-{uuid.uuid4().hex[:8]}"

    assert as_json(idemlock("create-table", name, "--output", "json")) == {
        "table": name,
        "created": True,
    }
    again = idemlock("create-table", name)
    assert again.returncode == 0
    assert "already exists" in again.stdout
    client = make_client(dynamodb_local)
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at_s"}


def test_create_table_refuses_a_mismatching_table(dynamodb_local: str, idemlock: Run) -> None:
    """An existing table with another key schema: exit 1 and one line naming the problem."""
    name = f"other-{uuid.uuid4().hex[:8]}"
    make_client(dynamodb_local).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    done = idemlock("create-table", name)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "key schema" in done.stderr


def test_ls_lists_and_filters(store: DynamoDBStore, idemlock: Run) -> None:
    """ls shows every item with status, age, lease and fence; filters narrow it down."""
    populate(store, ManualClock())

    every = as_json(idemlock("ls", "--output", "json"))
    assert sorted(item["key"] for item in every) == [
        "import#a.csv",
        "import#b.csv",
        "jobs#live",
        "jobs#stale",
    ]
    stale = as_json(idemlock("ls", "--stale", "--output", "json"))
    assert [(item["key"], item["stale"]) for item in stale] == [("jobs#stale", True)]
    assert stale[0]["lease_left_s"] < 0
    completed = as_json(idemlock("ls", "--status", "completed", "--output", "json"))
    assert {item["result"]["rows"] for item in completed} == {3, 5}
    jobs = as_json(idemlock("ls", "--namespace", "jobs", "--output", "json"))
    assert {item["key"] for item in jobs} == {"jobs#live", "jobs#stale"}
    assert (
        len(as_json(idemlock("ls", "--prefix", "import#", "--limit", "1", "--output", "json"))) == 1
    )

    table = idemlock("ls")
    assert table.returncode == 0
    assert table.stdout.splitlines()[0].split() == [
        "KEY", "STATUS", "AGE", "LEASE", "LEFT", "ATTEMPTS", "FENCE"
    ]  # fmt: skip
    assert "IN_PROGRESS (stale)" in table.stdout


def test_ls_paginates_a_large_table_with_progress(store: DynamoDBStore, idemlock: Run) -> None:
    """3,000 items read 100 per Scan request: all listed, progress counted on stderr."""
    now_ms = int(time.time() * 1000)
    items = [
        {
            "id": {"S": f"bulk#{n:05d}"},
            "status": {"S": "COMPLETED"},
            "owner": {"S": "o"},
            "fence": {"N": str(n + 1)},
            "claimed_at_ms": {"N": str(now_ms)},
            "completed_at_ms": {"N": str(now_ms)},
            "result": {"S": str(n)},
        }
        for n in range(3000)
    ]
    for start in range(0, len(items), 25):
        batch: list[Any] = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        store.client.batch_write_item(RequestItems={store.table_name: batch})

    done = idemlock("ls", "--limit", "0", "--page-size", "100", "--progress", "--output", "json")

    listed = as_json(done)
    assert len(listed) == 3000
    assert len({item["key"] for item in listed}) == 3000
    assert "scanned 3000 items" in done.stderr
    stats = as_json(idemlock("stats", "--page-size", "250", "--output", "json"))
    assert stats["by_status"] == {"IN_PROGRESS": 0, "COMPLETED": 3000}


def test_show_prints_every_attribute(store: DynamoDBStore, idemlock: Run) -> None:
    """show KEY: all attributes, times as ISO and epoch, the stored result; unknown key: exit 1."""
    populate(store, ManualClock())

    shown = as_json(idemlock("show", "a.csv", "--namespace", "import", "--output", "json"))
    assert shown["status"] == "COMPLETED"
    assert shown["result"] == {"rows": 3}
    assert shown["completed_at"].endswith("Z")
    assert isinstance(shown["expires_at_s"], int)

    table = idemlock("show", "jobs#live")
    assert "lease left" in table.stdout
    assert "epoch ms" in table.stdout

    missing = idemlock("show", "import#nope.csv")
    assert missing.returncode == 1
    assert "no item with key 'import#nope.csv'" in missing.stderr


def test_stats_counts_statuses_stale_items_and_the_oldest_claim(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """stats: per-status counts, stale count, the oldest in-progress claim."""
    populate(store, ManualClock())

    stats = as_json(idemlock("stats", "--output", "json"))

    assert stats["total"] == 4
    assert stats["by_status"] == {"IN_PROGRESS": 2, "COMPLETED": 2}
    assert stats["stale"] == 1
    assert stats["oldest_in_progress"]["key"] == "jobs#stale"
    assert stats["oldest_in_progress"]["age_s"] >= 10


def test_release_frees_a_stale_key_so_its_event_runs_again(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """release --yes deletes a crashed invocation's claim; the next delivery runs the body."""
    clock = ManualClock()
    hold(store, "jobs#stale", clock, lease=1, age=10)

    done = idemlock("release", "jobs#stale", "--yes")

    assert done.returncode == 0, done.stderr
    assert store.get("jobs#stale") is None
    runs: list[str] = []
    idempotent(lambda key: key, store=store, namespace="jobs")(runs.append)("stale")
    assert runs == ["stale"]


def test_release_asks_first_and_refuses_without_a_yes(store: DynamoDBStore, idemlock: Run) -> None:
    """Without --yes, release asks on stderr; anything but y refuses (exit 1), keeping the item."""
    hold(store, "jobs#stale", ManualClock(), lease=1, age=10)

    for answer in ("n\n", ""):
        refused = idemlock("release", "jobs#stale", stdin=answer)
        assert refused.returncode == 1
        assert "[y/N]" in refused.stderr
        assert store.get("jobs#stale") is not None
    assert idemlock("release", "jobs#stale", stdin="y\n").returncode == 0
    assert store.get("jobs#stale") is None


def test_release_refuses_a_live_owner_without_force(store: DynamoDBStore, idemlock: Run) -> None:
    """A claim within its lease is not released unless --force: exit 1 saying so."""
    hold(store, "jobs#live", ManualClock(), lease=600, age=0)

    refused = idemlock("release", "jobs#live", "--yes")

    assert refused.returncode == 1
    assert "live invocation" in refused.stderr
    assert store.get("jobs#live") is not None


def test_release_racing_a_new_owner_is_refused(store: DynamoDBStore, idemlock: Run) -> None:
    """The operator reads a stale claim; before they confirm, a redelivery takes the key over:
    the release fails its condition and the new owner's item stays."""
    clock = ManualClock()
    hold(store, "jobs#k", clock, lease=1, age=10)
    process = subprocess.Popen(
        [sys.executable, "-m", "idemlock", "release", "jobs#k"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=command_env(
            IDEMLOCK_TABLE=store.table_name,
            AWS_ENDPOINT_URL_DYNAMODB=store.client.meta.endpoint_url,
        ),
    )
    assert process.stderr is not None
    prompt = ""
    while "[y/N]" not in prompt:  # the item has been read; the operator is thinking
        prompt += process.stderr.read(1)
    new_owner: list[str] = []

    @idempotent(lambda key: key, store=store, namespace="jobs", lease=600)
    def redelivery(key: str) -> None:
        lock = current_lock()
        assert lock is not None
        new_owner.append(lock.owner)
        _, err = process.communicate("y\n", timeout=60)
        assert process.returncode == 1
        assert "changed since it was read" in prompt + err

    redelivery("k")
    record = store.get("jobs#k")
    assert record is not None
    assert (record.status, record.owner) == (LockStatus.COMPLETED, new_owner[0])


def test_forced_release_of_a_live_owner_makes_its_complete_fail(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """release --force deletes even a live claim; that owner's complete then raises
    LockLostError and writes nothing."""

    @idempotent(lambda key: key, store=store, namespace="jobs", lease=600)
    def body(key: str) -> str:
        assert idemlock("release", f"jobs#{key}", "--force", "--yes").returncode == 0
        return "done"

    with pytest.raises(LockLostError):
        body("k")
    assert store.get("jobs#k") is None


def test_purge_deletes_completed_items_past_retention_or_older_than(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """purge: completed items whose retention is over, or older than --older-than; never
    in-progress ones; --dry-run deletes nothing."""
    long_ago = ManualClock(start=time.time() - 3 * 3600)
    idempotent(lambda k: k, store=store, namespace="old", clock=long_ago, retention=60)(str)("x")
    idempotent(lambda k: k, store=store, namespace="kept", clock=long_ago, retention=None)(str)("y")
    idempotent(lambda k: k, store=store, namespace="new")(str)("z")
    hold(store, "jobs#stale", ManualClock(), lease=1, age=4 * 3600)

    dry = as_json(idemlock("purge", "--dry-run", "--output", "json"))
    assert dry == {"dry_run": True, "due": ["old#x"], "deleted": []}
    assert store.get("old#x") is not None

    assert as_json(idemlock("purge", "--yes", "--output", "json"))["deleted"] == ["old#x"]
    purged = as_json(idemlock("purge", "--older-than", "2h", "--yes", "--output", "json"))
    assert purged["deleted"] == ["kept#y"]
    assert {r.key for r in store.scan()} == {"new#z", "jobs#stale"}


@pytest.mark.parametrize("fmt", ["cloudformation", "sam", "serverless"])
def test_yaml_templates_declare_the_table_and_least_privilege(fmt: str, idemlock: Run) -> None:
    """Each YAML template has the table (on-demand, key id, TTL on expires_at_s) and a statement
    with exactly the actions idemlock uses, on that table."""
    done = idemlock("template", "--format", fmt, "--table", "orders-locks")
    document = yaml.safe_load(done.stdout)

    resources = document["resources"]["Resources"] if fmt == "serverless" else document["Resources"]
    table = resources["IdemlockTable"]["Properties"]
    assert table["TableName"] == "orders-locks"
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at_s", "Enabled": True}
    statements = {
        "cloudformation": lambda: resources["IdemlockPolicy"]["Properties"]["PolicyDocument"][
            "Statement"
        ],
        "sam": lambda: resources["HandlerFunction"]["Properties"]["Policies"][0]["Statement"],
        "serverless": lambda: document["provider"]["iam"]["role"]["statements"],
    }[fmt]()
    assert statements == [
        {
            "Effect": "Allow",
            "Action": list(RUNTIME_ACTIONS),
            "Resource": {"Fn::GetAtt": ["IdemlockTable", "Arn"]},
        }
    ]


def test_terraform_template(idemlock: Run) -> None:
    """The Terraform template has the table with TTL and the policy with the exact actions."""
    text = idemlock("template", "--format", "terraform").stdout

    assert 'resource "aws_dynamodb_table" "idemlock"' in text
    assert 'attribute_name = "expires_at_s"' in text
    assert f"actions   = [{', '.join(json.dumps(a) for a in RUNTIME_ACTIONS)}]" in text
    assert "resources = [aws_dynamodb_table.idemlock.arn]" in text


def test_a_missing_table_is_one_actionable_line(idemlock: Run) -> None:
    """ls on a table that does not exist: exit 1, one line saying how to create it."""
    done = idemlock("ls", "--table", "no-such-table")

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "idemlock create-table no-such-table" in done.stderr


def test_missing_credentials_are_one_actionable_line(idemlock: Run, tmp_path: Any) -> None:
    """No credentials anywhere: exit 1, one line saying how to provide them."""
    done = idemlock(
        "ls",
        AWS_ACCESS_KEY_ID="",
        AWS_SECRET_ACCESS_KEY="",
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "no AWS credentials found" in done.stderr


def test_access_denied_is_one_line_listing_the_actions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """IAM refusing the Scan: exit 1 and one line naming the actions the role needs (a caller
    without DescribeTable skips the key schema check)."""

    def denied(operation: str, action: str) -> Callable[..., Any]:
        def call(self: DynamoDBStore, **_: Any) -> Any:
            raise AccessDeniedError(self.table_name, (action,), operation=operation)

        return call

    monkeypatch.setattr(DynamoDBStore, "check_table", denied("describe_table", "dynamodb:Describe"))
    monkeypatch.setattr(DynamoDBStore, "scan_items", denied("scan", "dynamodb:Scan"))
    assert main(["ls", "--table", "locks", "--region", "us-east-1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "dynamodb:Scan" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["ls"],  # no --table and no IDEMLOCK_TABLE
        ["purge", "--table", "t", "--older-than", "soon"],
        ["ls", "--table", "t", "--status", "DONE"],
        ["template"],
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong command line is exit code 2 with the usage on stderr."""
    monkeypatch.delenv("IDEMLOCK_TABLE", raising=False)
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err
