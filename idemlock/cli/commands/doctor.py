"""``idemlock doctor``: check a lock table the way an on-call engineer would.

Each check prints ok, warn or fail, and for the last two what to do. The command exits 1 when a
check fails (something that breaks idemlock or lets the table grow without bound), 0 otherwise:
a warning is worth knowing, not worth paging for.

Every probe is harmless: reads, and conditional writes whose condition can never hold, so IAM
answers (allowed or denied) and DynamoDB writes nothing. A PartiQL ``INSERT`` has no condition:
it is probed inside a transaction whose other statement, an ``UPDATE`` of an item that does not
exist, always fails, so the transaction writes nothing either.
"""

from __future__ import annotations

import argparse
import itertools
import time
import uuid
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple, cast

from idemlock._partiql import Statements
from idemlock.cli import items
from idemlock.cli.common import EXIT_FAILED, EXIT_OK, Refused, api_call, now_ms
from idemlock.cli.flags import add_common_flags, store_for
from idemlock.cli.items import Foreign
from idemlock.cli.output import human_duration, print_json
from idemlock.dynamodb import BATCH_ACTIONS, DynamoDBStore
from idemlock.errors import AccessDeniedError, TableMismatchError, TableNotFoundError
from idemlock.keys import SEPARATOR

# The one place doctor reads the lock's grace.
from idemlock.lock import LAMBDA_LEASE_GRACE_MS
from idemlock.store import Claim, CompleteRequest, ReleaseRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import (
        BatchStatementRequestTypeDef,
        ParameterizedStatementTypeDef,
    )

OK: Final = "ok"
WARN: Final = "warn"
FAIL: Final = "fail"

SAMPLE_SIZE: Final = 100
"""Items the foreign-item check reads: one Scan page, not the whole table."""

CLOCK_SAMPLES: Final = 3
SKEW_WARN_S: Final = 1.0
SKEW_FAIL_S: Final = LAMBDA_LEASE_GRACE_MS / 1000
"""Leases are compared with the caller's clock. A machine more than the lease's grace ahead of
the others sees a live Lambda claim as over and takes it early; one behind keeps a crashed claim
for longer, and ``ls --stale`` is wrong on it either way."""

_IMPOSSIBLE: Final = "attribute_exists(#key) AND attribute_not_exists(#key)"
"""A condition no item meets: a write probe with it is authorised (or not) and changes nothing."""

_DENIED: Final = frozenset({"AccessDeniedException", "AccessDenied"})
_UNSUPPORTED: Final = frozenset({"UnknownOperationException"})
_NOT_PROBED: Final = "not probed"

_USES: Final = {
    "dynamodb:GetItem": "@idempotent, show, release",
    "dynamodb:UpdateItem": "@idempotent",
    "dynamodb:DeleteItem": "@idempotent, release, purge",
    "dynamodb:Scan": "ls, stats, purge, doctor",
    "dynamodb:PartiQLInsert": "batch claims",
    "dynamodb:PartiQLUpdate": "batch completes",
    "dynamodb:PartiQLDelete": "batch releases",
    "dynamodb:BatchGetItem": "reading the keys a batch claim found held",
}
"""Who needs each action the permissions check probes."""

_PROBED_WITH: Final = {"dynamodb:PartiQLInsert": "dynamodb:PartiQLUpdate"}
"""A probe that needs another action too: without it, the first is not probed."""


class Check(NamedTuple):
    """One line of the report."""

    name: str
    result: str
    detail: str
    fix: str | None = None


def register(commands: Any) -> None:
    """Add ``doctor``."""
    doctor = commands.add_parser(
        "doctor",
        help="check the table: key schema, TTL, billing, permissions, clock, backups, items",
    )
    add_common_flags(doctor)
    doctor.add_argument(
        "--namespace",
        help="probe permissions with keys of this namespace (for a policy restricted with "
        "`idemlock template --namespace`)",
    )
    doctor.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run every check; EXIT_FAILED if any failed."""
    store = store_for(args)
    checks = list(_checks(store, args.namespace or "idemlock-doctor"))
    failed = any(check.result == FAIL for check in checks)
    if args.output == "json":
        print_json(
            {
                "table": store.table_name,
                "endpoint_url": store.client.meta.endpoint_url,
                "ok": not failed,
                "checks": [check._asdict() for check in checks],
            }
        )
    else:
        _print(store, checks)
    return EXIT_FAILED if failed else EXIT_OK


def _print(store: DynamoDBStore, checks: list[Check]) -> None:
    meta = store.client.meta
    print(f"table {store.table_name!r} at {meta.endpoint_url} ({meta.region_name})")
    width = max(len(check.name) for check in checks)
    for check in checks:
        print(f"{check.result:<4}  {check.name:<{width}}  {check.detail}")
        if check.fix:
            print(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    counts = {result: sum(c.result == result for c in checks) for result in (FAIL, WARN)}
    if counts[FAIL]:
        print(f"{counts[FAIL]} of {len(checks)} checks failed")
    else:
        warned = f" ({counts[WARN]} with a warning)" if counts[WARN] else ""
        print(f"every check passed{warned}")


def _checks(store: DynamoDBStore, namespace: str) -> Iterator[Check]:
    schema, description = _key_schema(store)
    yield schema
    if schema.result == FAIL:
        return  # no lock table to look at: the other checks would only repeat it
    yield _ttl(store)
    if description is not None:
        yield _billing(store, description)
    yield _permissions(store, namespace)
    yield _clock(store, namespace)
    yield _point_in_time_recovery(store)
    yield _foreign_items(store)


# -- the checks --------------------------------------------------------------------------------


def _key_schema(store: DynamoDBStore) -> tuple[Check, dict[str, Any] | None]:
    name, table, key = "key schema", store.table_name, store.attributes.key
    try:
        description = store.check_table()
    except TableNotFoundError:
        return Check(name, FAIL, f"no table {table!r} here", f"idemlock create-table {table}"), None
    except TableMismatchError as exc:
        return Check(
            name,
            FAIL,
            str(exc),
            "point --table at the lock table, or pass the names its store uses "
            "(--attribute key=NAME ...)",
        ), None
    except AccessDeniedError:
        return _cannot(name, "dynamodb:DescribeTable"), None
    sort_key = store.attributes.sort_key
    if sort_key is None:
        return Check(name, OK, f"a single string partition key {key!r}"), description
    fits = f"string keys {key!r} and {sort_key!r}; idemlock's items: {sort_key} = "
    return Check(name, OK, f"{fits}{store.sort_key_value!r}"), description


def _ttl(store: DynamoDBStore) -> Check:
    name, table, attribute = "TTL", store.table_name, store.attributes.expires_at_s
    fix = (
        f"aws dynamodb update-time-to-live --table-name {table} "
        f"--time-to-live-specification Enabled=true,AttributeName={attribute} "
        f"(or `idemlock create-table {table}`)"
    )
    code, response = api_call(lambda: store.client.describe_time_to_live(TableName=table))
    if code in _DENIED:
        return _cannot(name, "dynamodb:DescribeTimeToLive")
    if code in _UNSUPPORTED:
        return Check(
            name,
            FAIL,
            "this endpoint has no TTL: completed locks are never deleted",
            f"run `idemlock purge --table {table} --yes` on a schedule",
        )
    _raise_unexpected(code, response)
    ttl = response["TimeToLiveDescription"]
    status, on = ttl.get("TimeToLiveStatus", "DISABLED"), ttl.get("AttributeName")
    if status in ("ENABLED", "ENABLING") and on == attribute:
        return Check(name, OK, f"{status.lower()} on {attribute!r}")
    if status in ("ENABLED", "ENABLING"):
        return Check(
            name,
            FAIL,
            f"on {on!r}, but idemlock writes expiry to {attribute!r}: its items never expire",
            f"disable TTL on {on!r}, then: {fix.partition(' (or')[0]}; or, if {on!r} is "
            f"idemlock's expiry, pass --attribute expires_at_s={on}",
        )
    return Check(name, FAIL, f"{status.lower()}: the table keeps every lock forever", fix)


def _billing(store: DynamoDBStore, description: dict[str, Any]) -> Check:
    name = "billing mode"
    mode = description.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    if mode == "PAY_PER_REQUEST":
        return Check(name, OK, "on demand (PAY_PER_REQUEST)")
    throughput = description.get("ProvisionedThroughput", {})
    return Check(
        name,
        WARN,
        f"provisioned ({throughput.get('ReadCapacityUnits', '?')} reads, "
        f"{throughput.get('WriteCapacityUnits', '?')} writes per second): a burst of "
        "redeliveries is throttled, and every duplicate costs a write",
        f"aws dynamodb update-table --table-name {store.table_name} "
        "--billing-mode PAY_PER_REQUEST (or auto scaling with headroom)",
    )


def _permissions(store: DynamoDBStore, namespace: str) -> Check:
    name = "permissions"
    key = _probe_key(namespace)
    probes = _probes(store, key)
    codes: dict[str, str | None] = {}
    for action in sorted(probes, key=lambda action: action in _PROBED_WITH):  # those last
        needed = _PROBED_WITH.get(action)
        codes[action] = (
            _NOT_PROBED if needed is not None and codes[needed] in _DENIED else probes[action]()
        )
    denied = [action for action in probes if codes[action] in _DENIED]
    unknown = [action for action in probes if codes[action] == _NOT_PROBED]
    unsupported = [action for action in probes if codes[action] in _UNSUPPORTED]
    allowed = [action for action in probes if codes[action] is None]
    if not denied and not unknown and not unsupported:
        return Check(name, OK, f"this caller can {_actions(allowed)}")
    missing = [action for action in probes if action in denied or action in unknown]
    uses = "; ".join(f"{_actions([action])} by {_USES[action]}" for action in missing)
    notes = [f"this caller cannot {_actions(denied)} (probed on {key!r})"] if denied else []
    notes += [
        f"{_actions([action])} was not probed (its probe needs {_actions([_PROBED_WITH[action]])})"
        for action in unknown
    ]
    notes += [f"needed: {uses}"] if uses else []
    if unsupported:
        notes.append(
            f"this endpoint does not know {_actions(unsupported)}: batches send one request "
            "per record here"
        )
    if set(BATCH_ACTIONS) & {*denied, *unknown}:
        notes.append(
            "without the batch actions, @idempotent_records and StreamDispatcher still work, "
            "one request per record instead of 25 records to a request"
        )
    fix = (
        "fine for a role that does not need them; otherwise `idemlock template` prints the "
        "functions' policy (the batch actions included), and docs/operating.md the operators'"
    )
    return Check(name, WARN, "; ".join(notes), fix if denied or unknown else None)


def _probes(store: DynamoDBStore, key: str) -> dict[str, Callable[[], str | None]]:
    """One harmless call per action, answering its error code (``None``: IAM allowed it)."""
    client, table, names = store.client, store.table_name, store.attributes
    item_key = store.item_key(key)
    return {
        "dynamodb:GetItem": _code(lambda: client.get_item(TableName=table, Key=item_key)),
        "dynamodb:UpdateItem": _code(
            lambda: client.update_item(
                TableName=table,
                Key=item_key,
                UpdateExpression="SET #status = :probe",
                ConditionExpression=_IMPOSSIBLE,
                ExpressionAttributeNames={"#key": names.key, "#status": names.status},
                ExpressionAttributeValues={":probe": {"S": "doctor-probe"}},
            )
        ),
        "dynamodb:DeleteItem": _code(
            lambda: client.delete_item(
                TableName=table,
                Key=item_key,
                ConditionExpression=_IMPOSSIBLE,
                ExpressionAttributeNames={"#key": names.key},
            )
        ),
        "dynamodb:Scan": _code(lambda: client.scan(TableName=table, Limit=1)),
        **_batch_probes(store, key),
    }


def _batch_probes(store: DynamoDBStore, key: str) -> dict[str, Callable[[], str | None]]:
    """The statements a batch sends, on items that do not exist and for an owner nobody is."""
    client, table = store.client, store.table_name
    partiql = Statements(table, store.attributes, store.sort_key_value)
    owner, now = f"doctor-probe-{uuid.uuid4().hex}", now_ms()
    complete = partiql.complete_statement(CompleteRequest(key, owner, now, None, None), None)
    release = partiql.release_statement(ReleaseRequest(key, owner))
    # A transaction names each item once: the INSERT claims another key than the UPDATE's.
    # Were the transaction ever to commit, the item's TTL would already be over.
    claim = partiql.claim_statement(
        Claim(_other_key(key), owner, now, now * 1000, now, now // 1000)
    )
    insert = cast("list[ParameterizedStatementTypeDef]", [claim, complete])

    def statement(probe: dict[str, Any]) -> str | None:
        sent = cast("BatchStatementRequestTypeDef", probe)
        code, response = api_call(lambda: client.batch_execute_statement(Statements=[sent]))
        if code is not None:
            return code
        [answer] = response["Responses"]
        refused = answer.get("Error", {}).get("Code")
        return refused if refused in _DENIED else None

    def transaction() -> str | None:
        code, _ = api_call(lambda: client.execute_transaction(TransactStatements=insert))
        return None if code == "TransactionCanceledException" else code

    return {
        "dynamodb:PartiQLInsert": transaction,
        "dynamodb:PartiQLUpdate": lambda: statement(complete),
        "dynamodb:PartiQLDelete": lambda: statement(release),
        "dynamodb:BatchGetItem": _code(
            lambda: client.batch_get_item(
                RequestItems={table: {"Keys": [store.item_key(key)], "ConsistentRead": True}}
            )
        ),
    }


def _clock(store: DynamoDBStore, namespace: str) -> Check:
    """The local clock against the ``Date`` header of DynamoDB's responses.

    The header has whole seconds, so each response only bounds the skew: DynamoDB's time is in
    [date, date + 1 s) somewhere between sending and receiving. The bounds of a few responses
    are intersected.
    """
    name, key = "clock skew", store.item_key(_probe_key(namespace))
    low, high = -float("inf"), float("inf")
    for _ in range(CLOCK_SAMPLES):
        sent = time.time()
        _, response = api_call(lambda: store.client.get_item(TableName=store.table_name, Key=key))
        received = time.time()
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        if not date:
            return Check(name, WARN, "the endpoint sends no Date header: skew not measured")
        server = parsedate_to_datetime(date).timestamp()
        low, high = max(low, server - received), min(high, server + 1 - sent)
    low, high = min(low, high), max(low, high)  # rounding at a second's edge can cross them
    least = 0.0 if low <= 0 <= high else min(abs(low), abs(high))
    ahead = "behind" if low > 0 else "ahead of"
    fix = "sync this machine's clock with NTP (e.g. `timedatectl set-ntp true`, or chrony)"
    if least > SKEW_FAIL_S:
        return Check(
            name,
            FAIL,
            f"this machine is {human_duration(least * 1000)} or more {ahead} DynamoDB's clock; "
            f"leases, compared with the caller's clock, have a {human_duration(SKEW_FAIL_S * 1000)}"
            " grace",
            fix,
        )
    if least > SKEW_WARN_S:
        return Check(
            name, WARN, f"this machine is {human_duration(least * 1000)} {ahead} DynamoDB", fix
        )
    return Check(name, OK, "this machine's clock is within a second of DynamoDB's")


def _point_in_time_recovery(store: DynamoDBStore) -> Check:
    name, table = "point-in-time recovery", store.table_name
    code, response = api_call(lambda: store.client.describe_continuous_backups(TableName=table))
    if code in _DENIED:
        return _cannot(name, "dynamodb:DescribeContinuousBackups")
    if code in _UNSUPPORTED:
        return Check(name, WARN, "this endpoint has none (a local emulator)")
    _raise_unexpected(code, response)
    backups = response["ContinuousBackupsDescription"]
    status = backups.get("PointInTimeRecoveryDescription", {}).get(
        "PointInTimeRecoveryStatus", "DISABLED"
    )
    if status == "ENABLED":
        return Check(name, OK, "enabled")
    return Check(
        name,
        WARN,
        "off: a table deleted or overwritten by mistake frees every key, and redeliveries run "
        "their bodies again",
        f"aws dynamodb update-continuous-backups --table-name {table} "
        "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true",
    )


def _foreign_items(store: DynamoDBStore) -> Check:
    name = "foreign items"
    try:
        sample = list(itertools.islice(store.scan_items(page_size=SAMPLE_SIZE), SAMPLE_SIZE))
    except AccessDeniedError:
        return _cannot(name, "dynamodb:Scan")
    found = [
        item for item in (items.read(store, raw) for raw in sample) if isinstance(item, Foreign)
    ]
    foreign = [item for item in found if not item.unreadable]
    unreadable = len(found) - len(foreign)  # idemlock's own, whose result cannot be read back
    also = (
        f"; {unreadable} with an unreadable result (`idemlock ls --foreign`)" if unreadable else ""
    )
    if not foreign:
        detail = f"none among {len(sample)} sampled items{also}"
        if not unreadable:
            return Check(name, OK, detail)
        fix = "`idemlock show KEY` says why; `idemlock release KEY --force` removes one"
        return Check(name, WARN, detail, fix)
    first = foreign[0]
    return Check(
        name,
        WARN,
        f"{len(foreign)} of {len(sample)} sampled items were not written by idemlock "
        f"(e.g. {first.key!r}, status {first.status!r}); purge leaves them alone{also}",
        "give idemlock a table of its own; `idemlock ls --foreign` lists them. If they are "
        "idemlock's, written with other attribute names, pass them: --attribute FIELD=NAME",
    )


# -- plumbing ----------------------------------------------------------------------------------


def _raise_unexpected(code: str | None, response: dict[str, Any]) -> None:
    if code is not None:
        message = response.get("Error", {}).get("Message", "")
        raise Refused(f"DynamoDB answered {code}: {message}")


def _cannot(name: str, action: str) -> Check:
    return Check(
        name,
        WARN,
        f"not checked: this caller may not {action.partition(':')[2]}",
        f"allow {action}",
    )


def _code(call: Callable[[], Any]) -> Callable[[], str | None]:
    """A probe answering ``call``'s error code (``None``: it ran, or failed its condition)."""
    return lambda: api_call(call)[0]


def _probe_key(namespace: str) -> str:
    return f"{namespace}{SEPARATOR}doctor-probe-{uuid.uuid4().hex[:12]}"


def _other_key(key: str) -> str:
    """Another probe key in ``key``'s namespace (a policy held to it allows both)."""
    return f"{key}-2"


def _actions(actions: list[str]) -> str:
    return ", ".join(action.partition(":")[2] for action in actions)
