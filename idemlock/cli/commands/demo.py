"""``idemlock demo``: the whole story on an embedded DynamoDB, no AWS account needed.

An S3 upload is processed, the same notification delivered again is skipped, a failing file leaves
no lock, and its re-upload is processed. The embedded default is moto's DynamoDB, in process
(``mock_aws``: the ``demo`` extra, moto without its server extra, which would pull in Flask, Docker
and cfn-lint for nothing); ``--endpoint-url`` points the demo at any other endpoint, such as
DynamoDB Local. The demo writes only to a table it creates (and deletes again) or to an empty
one: it never mixes its items with anyone's locks.

Then (``_http_story``) an HTTP API's POST is retried while it runs (409), after it finished (a
replay), and with its key reused for another order (422).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from idemlock import DynamoDBStore, idempotent, idempotent_http
from idemlock.cli.common import Refused, UsageError
from idemlock.cli.flags import add_connection_flags, add_output_flag, endpoint_for
from idemlock.cli.output import print_json
from idemlock.errors import ConfigurationError, TableNotFoundError
from idemlock.sources import s3

BUCKET = "uploads"


EMBEDDED = "moto's in-process DynamoDB"
"""Where the demo runs when no endpoint is given."""


def register(commands: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = commands.add_parser(
        "demo", help="run the S3 story on an embedded DynamoDB (or --endpoint-url)"
    )
    parser.add_argument(
        "--table",
        help="an empty or new table to run in (default: a new table idemlock-demo-XXXXXXXX, "
        "deleted afterwards)",
    )
    add_connection_flags(parser, note="; only with --endpoint-url")
    add_output_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every step behaved as told."""
    if not endpoint_for(args) and (args.region or args.profile):
        raise UsageError(
            "--region and --profile apply only with --endpoint-url: the embedded server "
            "needs neither"
        )
    say: Callable[..., None] = print if args.output == "table" else _silent
    table = args.table or f"idemlock-demo-{uuid.uuid4().hex[:8]}"
    with _endpoint(args, table) as (endpoint_url, store, embedded):
        _refuse_a_table_in_use(store)
        created = store.create_table()
        try:
            say(f"lock table {table!r} at {endpoint_url or EMBEDDED}\n")
            outcomes = _story(store, say)
            http_outcomes = _http_story(store, say)
        finally:
            # A table the demo made on someone's endpoint is not left behind; the embedded
            # server's tables go with it.
            deleted = created and not embedded
            if deleted:
                store.client.delete_table(TableName=table)
                say(f"deleted the demo's table {table!r}")
    ok = outcomes == EXPECTED and http_outcomes == HTTP_EXPECTED
    if args.output == "json":
        print_json(
            {
                "table": table,
                "endpoint_url": endpoint_url,
                "steps": outcomes,
                "http_steps": http_outcomes,
                "ok": ok,
                "table_deleted": deleted,
            }
        )
    return 0 if ok else 1


def _refuse_a_table_in_use(store: DynamoDBStore) -> None:
    """The demo writes and lists its own items: in a table with others it would mix them."""
    try:
        first = next(store.scan_items(page_size=1), None)
    except TableNotFoundError:
        return
    if first is not None:
        raise Refused(
            f"table {store.table_name!r} holds items already, and the demo runs only in an empty "
            "or new table: leave --table out (the demo then makes a table and deletes it after)"
        )


EXPECTED = ["processed", "skipped", "failed", "processed"]
"""What the four steps of the story must do."""


def _silent(*_: object, **__: object) -> None:
    """``print`` for ``--output json``: the story's prose is left out."""


def _story(store: DynamoDBStore, say: Callable[..., None]) -> list[str]:
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
        say(title)
        before = len(imported)
        try:
            result = import_csv(_s3_event(key))
        except ValueError as exc:
            say(f"   handler failed: {exc} -> the lock is released")
            outcomes.append("failed")
        else:
            ran = len(imported) > before
            say(f"   {'processed' if ran else 'skipped (duplicate)'}: {result}")
            outcomes.append("processed" if ran else "skipped")
        _print_table(store, say)
    say("every step behaved as described" if outcomes == EXPECTED else f"UNEXPECTED: {outcomes}")
    return outcomes


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


def _print_table(store: DynamoDBStore, say: Callable[..., None]) -> None:
    records = sorted(store.scan(), key=lambda record: record.key)
    say("   lock table:" if records else "   lock table: (empty)")
    width = max((len(record.key) for record in records), default=0)
    for record in records:
        say(
            f"     {record.key:<{width}}  {record.status.value:<11}  fence={record.fence}"
            f"  result={record.result}"
        )
    say()


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@contextmanager
def _endpoint(
    args: argparse.Namespace, table: str
) -> Iterator[tuple[str | None, DynamoDBStore, bool]]:
    """The endpoint (``None``: embedded), the store of ``table`` on it, and whether embedded."""
    import botocore.session  # noqa: PLC0415  (deferred like the store's own client)

    endpoint_url = endpoint_for(args)
    if endpoint_url:
        # The client a store makes: a profile or credentials that are not there are named
        # with their fix (AWSSetupError), as for every other command.
        store = DynamoDBStore(
            table,
            endpoint_url=endpoint_url,
            region_name=args.region or _region(),
            profile_name=args.profile,
        )
        yield endpoint_url, store, False
        return
    try:
        from moto import mock_aws  # noqa: PLC0415  (an optional extra)
    except ImportError as exc:
        raise ConfigurationError(
            "the embedded DynamoDB needs the demo extra: pip install 'idemlock[demo]' "
            "(or pass --endpoint-url)"
        ) from exc
    # In process: botocore's requests are answered by moto's DynamoDB inside this interpreter,
    # so no port, thread or HTTP server is needed. The session is made after moto's import,
    # which adds its request hook to the handlers every new session starts with. The
    # credentials are never checked, but botocore will not sign without some.
    with mock_aws():
        client: Any = botocore.session.Session().create_client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        )
        yield None, DynamoDBStore(table, client=client), True


HTTP_EXPECTED = ["201", "409", "replayed", "422"]
"""What the HTTP steps must answer: the first response, in flight, replay, key reused."""


def _http_story(store: DynamoDBStore, say: Callable[..., None]) -> list[str]:
    """An HTTP API's POST, retried in flight (409), after it finished (a replay), and reused.

    The second request arrives while the first one's handler still runs, as when a client's
    timeout is shorter than the handler; the last sends the same key for another order.
    """
    first_running, finish_first = threading.Event(), threading.Event()

    @idempotent_http(store=store, namespace="demo.create_order", lease=30)
    def create_order(event: dict[str, Any], context: object) -> dict[str, Any]:
        first_running.set()
        finish_first.wait(timeout=30)  # the client's retry arrives while this runs
        return {"statusCode": 201, "headers": {"Location": "/orders/o-17"}, "body": event["body"]}

    say('5. POST /orders {"item": "book"} with Idempotency-Key: "8e03978e-..."; it runs a while')
    answers: list[dict[str, Any]] = []
    first = threading.Thread(target=lambda: answers.append(create_order(_post("book"), None)))
    first.start()
    first_running.wait(timeout=30)
    say("6. the client gives up waiting and sends the same request while the first still runs")
    outcomes = [_show(create_order(_post("book"), None), say)]
    finish_first.set()
    first.join(timeout=30)
    say("   ... then the first request finishes:")
    outcomes.insert(0, _show(answers[0], say))
    say("7. the client retries once more")
    outcomes.append(_show(create_order(_post("book"), None), say))
    say('8. the client sends the same key with {"item": "pen"}')
    outcomes.append(_show(create_order(_post("pen"), None), say))
    _print_table(store, say)
    ok = outcomes == HTTP_EXPECTED
    say("every HTTP step behaved as described" if ok else f"UNEXPECTED: {outcomes}")
    return outcomes


def _show(response: dict[str, Any], say: Callable[..., None]) -> str:
    """Print a response as a client sees it; ``replayed`` or its status, for the outcome."""
    headers = response.get("headers") or {}
    shown = "".join(
        f", {name}: {value}"
        for name, value in headers.items()
        if name in ("Retry-After", "Idempotent-Replayed")
    )
    body = response["body"]
    if headers.get("Content-Type") == "application/problem+json":
        body = json.loads(body)["title"]
    say(f"   {response['statusCode']}{shown}: {body}")
    return (
        "replayed" if headers.get("Idempotent-Replayed") == "true" else str(response["statusCode"])
    )


def _post(item: str) -> dict[str, Any]:
    """An HTTP API (payload 2.0) POST /orders event, trimmed to what idempotent_http reads."""
    return {
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/orders",
        "rawQueryString": "",
        "headers": {"idempotency-key": '"8e03978e-40d5-43e8-bc93-6894a57f9324"'},
        "requestContext": {"http": {"method": "POST", "path": "/orders"}},
        "body": json.dumps({"item": item}),
        "isBase64Encoded": False,
    }
