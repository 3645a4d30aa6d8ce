"""``idemlock show``: every attribute of one item, idemlock's or foreign."""

from __future__ import annotations

import re
import subprocess
import sys

from idemlock import DynamoDBStore, idempotent
from idemlock.testing import ManualClock
from tests.cli_helpers import (
    POWERTOOLS_KEY,
    Run,
    as_json,
    command_env,
    hold,
    populate,
    put_powertools_item,
)


def test_show_prints_a_foreign_item_raw(store: DynamoDBStore, idemlock: Run) -> None:
    """show on a foreign item prints its attributes as they are, marked foreign."""
    put_powertools_item(store)

    shown = as_json(idemlock("show", POWERTOOLS_KEY, "--output", "json"))
    assert shown["foreign"] is True
    assert shown["status"] == "INPROGRESS"
    assert set(shown["attributes"]) == {"id", "status", "expiration", "in_progress_expiration"}
    assert isinstance(shown["attributes"]["expiration"], int)

    table = idemlock("show", POWERTOOLS_KEY)
    assert table.returncode == 0, table.stderr
    assert "foreign" in table.stdout
    assert "in_progress_expiration" in table.stdout


_HOLDER = """\
import sys
from idemlock import DynamoDBStore, idempotent
from idemlock.errors import InProgressError

process = idempotent(lambda key: key, store=DynamoDBStore(sys.argv[1]), namespace="jobs")(str)
try:
    process("live")
except InProgressError as exc:
    print(exc)
"""


def test_times_print_the_same_in_errors_and_in_the_command(
    store: DynamoDBStore, idemlock: Run, dynamodb_local: str
) -> None:
    """A program that meets a live claim gets an InProgressError whose lease time is written
    as `show` writes it: ISO 8601 UTC with milliseconds and a Z."""
    hold(store, "jobs#live", ManualClock(), lease=600, age=0)

    done = subprocess.run(
        [sys.executable, "-c", _HOLDER, store.table_name],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=command_env(AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local),
    )
    assert done.returncode == 0, done.stderr

    lease = as_json(idemlock("show", "jobs#live", "--output", "json"))["lease_expires_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lease)
    assert f"its lease expires at {lease}" in done.stdout
    assert lease in idemlock("show", "jobs#live").stdout


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


def test_control_characters_are_escaped_in_the_table(store: DynamoDBStore, idemlock: Run) -> None:
    """show on a key and a result holding control characters: escaped in the table (no
    escape byte reaches the terminal), exact in JSON."""
    key = "a\r\x1b]0;pwned\x07"
    idempotent(lambda k: k, store=store, namespace="s3")(lambda k: {"note": "x\x1b[2Jy"})(key)

    table = idemlock("show", f"s3#{key}")
    assert table.returncode == 0, table.stderr
    assert not set("\x1b\r\x07") & set(table.stdout)
    assert "s3#a\\r\\x1b]0;pwned\\x07" in table.stdout

    shown = as_json(idemlock("show", f"s3#{key}", "--output", "json"))
    assert (shown["key"], shown["result"]) == (f"s3#{key}", {"note": "x\x1b[2Jy"})


def test_show_says_why_a_completed_key_has_no_result(store: DynamoDBStore, idemlock: Run) -> None:
    """A key completed without its result (it could not be stored): show prints the reason the
    item records, and JSON has it in result_not_stored; the item is not unreadable."""
    charge = idempotent(lambda k: k, store=store, namespace="charges", on_unstorable_result="omit")
    charge(lambda k: {"handle": object()})("c-1")

    table = idemlock("show", "charges#c-1")
    assert table.returncode == 0, table.stderr
    assert "(not stored: result['handle'] (object) has no stored form" in table.stdout
    shown = as_json(idemlock("show", "charges#c-1", "--output", "json"))
    assert (shown["status"], shown["result_stored"], shown["unreadable"]) == (
        "COMPLETED",
        False,
        False,
    )
    assert shown["result_not_stored"].startswith("result['handle'] (object)")
