"""What every ``idemlock`` subcommand shares: usage errors, flags, the version, no tracebacks."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

import idemlock
from idemlock import DynamoDBStore
from idemlock.cli import build_parser, main
from idemlock.cli.flags import parse_duration, table_name_text
from idemlock.errors import AccessDeniedError
from tests.cli_helpers import Run, command_env


def test_an_unknown_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown subcommand is a usage error: exit code 2 and a message on stderr."""
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err


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
def test_a_wrong_command_line_exits_2(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong command line is exit code 2 with the usage on stderr."""
    monkeypatch.delenv("IDEMLOCK_TABLE", raising=False)
    assert main(argv) == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["ls", "--endpoint-url", "localhost:8000"], "http://localhost:8000"),
        (["ls", "--endpoint-url", ""], "leave --endpoint-url out"),
        (["ls", "--limit", "-1"], "argument --limit: must be a whole number >= 0"),
        (["stats", "--page-size", "0"], "argument --page-size: must be a whole number >= 1"),
        (["show", ""], "KEY is empty"),
        (["release", "", "--yes"], "KEY is empty"),
        (["purge", "--older-than", "7"], "'7' has no unit"),
        (["ls", "--attribute", "colour=blue"], "no attribute field 'colour'"),
        (["ls", "--attribute", "key"], "FIELD=NAME"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(idemlock: Run, argv: list[str], problem: str) -> None:
    """Each of these is a usage error: exit 2, the subcommand's usage, then one line naming
    the problem and the fix; never a traceback, and nothing is read or deleted."""
    done = idemlock(*argv)

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    usage, error = done.stderr.strip().split("\n", 1)[0], done.stderr.strip().splitlines()[-1]
    assert usage.startswith(f"usage: idemlock {argv[0]} ")
    assert error.startswith(f"idemlock {argv[0]}: error: ")
    assert problem in error


def test_a_bad_endpoint_in_the_environment_is_named(idemlock: Run) -> None:
    """AWS_ENDPOINT_URL_DYNAMODB without a scheme: exit 2, naming the variable and the fix."""
    done = idemlock("ls", AWS_ENDPOINT_URL_DYNAMODB="127.0.0.1:8000")

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "AWS_ENDPOINT_URL_DYNAMODB" in done.stderr
    assert "http://127.0.0.1:8000" in done.stderr


def test_an_extra_argument_shows_the_subcommands_usage(idemlock: Run) -> None:
    """`idemlock ls extra-arg`: exit 2 with ls's usage, not the top-level one."""
    done = idemlock("ls", "extra-arg")

    assert done.returncode == 2
    assert done.stderr.startswith("usage: idemlock ls ")
    assert "unrecognized arguments: extra-arg" in done.stderr


def test_version() -> None:
    """`idemlock --version` prints the installed version and exits 0."""
    done = subprocess.run(
        [sys.executable, "-m", "idemlock", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=command_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"idemlock {idemlock.__version__}"


def _options(command: str) -> set[str]:
    """The options ``idemlock COMMAND --help`` lists."""
    done = subprocess.run(
        [sys.executable, "-m", "idemlock", command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=command_env(),
    )
    assert done.returncode == 0, done.stderr
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", done.stdout))


def test_template_lists_only_the_flags_it_reads() -> None:
    """template makes no AWS call: it has no endpoint, region or profile flags."""
    options = _options("template")

    assert {"--format", "--table", "--namespace", "--attribute", "--output"} <= options
    assert not options & {"--endpoint-url", "--region", "--profile"}


def test_demo_names_its_real_table_default() -> None:
    """demo's --table help says what it does without one: a fresh table, deleted afterwards."""
    done = subprocess.run(
        [sys.executable, "-m", "idemlock", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=command_env(),
    )
    text = " ".join(done.stdout.split())
    assert "IDEMLOCK_TABLE" not in text
    assert "default: a new table idemlock-demo-" in text
    assert "--attribute" not in text


@pytest.mark.parametrize("flag", [["--region", "eu-west-1"], ["--profile", "prod"]])
def test_demo_refuses_connection_flags_it_would_ignore(
    flag: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --endpoint-url the demo runs on its embedded server: a region or a profile
    would be ignored, so it is a usage error saying so."""
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)

    assert main(["demo", *flag]) == 2
    assert "only with --endpoint-url" in capsys.readouterr().err


def test_every_subcommand_is_in_the_parser() -> None:
    """The commands the docs name all exist."""
    parser = build_parser()
    text = parser.format_help()
    commands = "create-table ls show release purge stats doctor template local demo"
    for command in commands.split():
        assert command in text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)],
)
def test_durations_carry_their_unit(text: str, seconds: float) -> None:
    """Durations take s, m, h, d or w."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["7", "90", "", "7 days", "-1d", "soon"])
def test_a_duration_without_a_unit_is_refused(text: str) -> None:
    """A bare number could mean seconds or days: it is refused rather than guessed."""
    import argparse  # noqa: PLC0415

    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


TABLE_COMMANDS = [
    ["ls"],
    ["show", "jobs#1"],
    ["stats"],
    ["purge", "--yes"],
    ["release", "jobs#1", "--yes"],
    ["create-table"],
    ["doctor"],
]
"""Every command that reads or writes the table."""


@pytest.mark.parametrize("argv", TABLE_COMMANDS, ids=lambda argv: argv[0])
def test_a_missing_region_names_the_flag_and_the_variable(
    idemlock: Run, argv: list[str], tmp_path: Path
) -> None:
    """No region anywhere (and no endpoint: a local one needs none): exit 1, one line naming
    --region and AWS_REGION; a user's mistake, not a bug to report."""
    done = idemlock(
        *argv,
        AWS_ENDPOINT_URL_DYNAMODB="",
        AWS_REGION="",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )

    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1
    assert "no AWS region" in done.stderr
    assert "--region" in done.stderr
    assert "AWS_REGION" in done.stderr
    assert "report" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(("ls",), id="ls"),
        # The demo said "unexpected ProfileNotFound ... please report it".
        pytest.param(("demo", "--endpoint-url", "http://127.0.0.1:9"), id="demo"),
    ],
)
def test_an_unknown_profile_is_named_with_the_fix(
    command: tuple[str, ...], idemlock: Run, tmp_path: Path
) -> None:
    """--profile prod where the configuration has no such profile: exit 1, one line naming
    the profile and how to list the ones there are."""
    done = idemlock(
        *command,
        "--profile",
        "prod",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
    )

    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1
    assert "no AWS profile 'prod'" in done.stderr
    assert "aws configure list-profiles" in done.stderr
    assert "report" not in done.stderr


def test_missing_credentials_name_the_profile_flag(idemlock: Run, tmp_path: Path) -> None:
    """No credentials: the command's line names its own --profile flag and the variables."""
    done = idemlock(
        "stats",
        AWS_ACCESS_KEY_ID="",
        AWS_SECRET_ACCESS_KEY="",
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )

    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "no AWS credentials found: pass --profile NAME" in done.stderr
    assert "AWS_ACCESS_KEY_ID" in done.stderr


@pytest.mark.parametrize("argv", TABLE_COMMANDS, ids=lambda argv: argv[0])
def test_every_interrupted_command_exits_130(
    argv: list[str],
    dynamodb_local: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C while a command talks to DynamoDB: exit 130 (128 + SIGINT, as shells report
    it) and one line saying it was interrupted."""

    def pressed(*_: object, **__: object) -> NoReturn:
        raise KeyboardInterrupt

    monkeypatch.setattr(DynamoDBStore, "_call", pressed)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    where = ["--table", "locks", "--endpoint-url", dynamodb_local, "--region", "us-east-1"]

    assert main([*argv, *where]) == 130

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("idemlock: interrupted")


@pytest.mark.parametrize("flag", ["-v", "-V"])
def test_short_version_flags_are_understood(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`idemlock -v` (and -V) print the version as --version does."""
    assert main([flag]) == 0
    assert capsys.readouterr().out.strip() == f"idemlock {idemlock.__version__}"


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["template", "--format", "sam", "--table", "my table!"], "'my table!' is not a DynamoDB"),
        (["ls", "--table", "ab"], "3 to 255"),
        (["create-table", "a/b"], "'a/b' is not a DynamoDB table name"),
        (["purge", "--older-than", "-7d"], "'-7d' is negative"),
        (
            ["template", "--format", "sam", "--table", "arn:aws:dynamodb:eu-west-1:1:table/locks"],
            "is an ARN: a template makes the table, give its name",
        ),
    ],
)
def test_bad_values_that_argparse_passed_on_are_usage_errors(
    idemlock: Run, argv: list[str], problem: str
) -> None:
    """An invalid table name, and a negative-looking duration (which argparse took for an
    option: "expected one argument"): exit 2, the subcommand's usage, one line naming it."""
    done = idemlock(*argv)

    assert done.returncode == 2, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith(f"idemlock {argv[0]}: error: ")
    assert problem in error
    assert "expected one argument" not in error


def test_an_invalid_table_name_in_the_environment_is_named(idemlock: Run) -> None:
    """IDEMLOCK_TABLE with a space: exit 2 naming the variable, before any call."""
    done = idemlock("template", "--format", "terraform", IDEMLOCK_TABLE="my table!")

    assert done.returncode == 2
    assert "IDEMLOCK_TABLE: 'my table!' is not a DynamoDB table name" in done.stderr


def test_a_value_starting_with_a_dash_reaches_its_flag(idemlock: Run) -> None:
    """`ls --prefix -2026-q3`: the prefix is -2026-q3 (argparse alone takes it for an option
    and says "expected one argument")."""
    done = idemlock("ls", "--prefix", "-2026-q3", "--output", "json")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "a" * 255,
        "Orders_2026.locks-v2",
        "arn:aws:dynamodb:eu-west-1:123456789012:table/locks",
    ],
)
def test_table_names_dynamodb_accepts_pass(name: str) -> None:
    """3 to 255 of letters, digits, _, - and . (DynamoDB's rule), or a table's ARN."""
    assert table_name_text(name) == name


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 256, "my table!", "a/b", "arn:aws:dynamodb:eu-west-1:1:table/x y"],
)
def test_table_names_dynamodb_refuses_are_refused(name: str) -> None:
    """Anything else is refused, saying the rule."""
    with pytest.raises(argparse.ArgumentTypeError, match="3 to 255 letters, digits"):
        table_name_text(name)
