"""``on_lease_expired="refuse"``: a lapsed lease is an unknown outcome for an operator, on
DynamoDB Local, settled with ``idemlock release`` or ``idemlock resolve``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from idemlock import DynamoDBStore, idempotent, idempotent_http, idempotent_records
from idemlock.errors import (
    ConfigurationError,
    InProgressError,
    LockLostError,
    OutcomeUnknownError,
)
from idemlock.item import LockStatus
from idemlock.store import LockStore
from idemlock.testing import LambdaContext, ManualClock, MemoryStore
from tests.batch_events import sqs_event
from tests.cli_helpers import Run, as_json, hold
from tests.http_events import http_event

KEY = "withdrawals#w-1"


def withdraw(
    store: LockStore, clock: Callable[[], float], runs: list[str], **options: Any
) -> Callable[[str], object]:
    """A withdrawal handler on ``store``; each run of its body is appended to ``runs``."""

    def body(withdrawal_id: str) -> dict[str, object]:
        runs.append(withdrawal_id)
        return {"paid": withdrawal_id}

    return idempotent(
        lambda withdrawal_id: withdrawal_id,
        store=store,
        namespace="withdrawals",
        clock=clock,
        **options,
    )(body)


def test_refuse_raises_outcome_unknown_marks_the_item_and_emits(store: DynamoDBStore) -> None:
    """A lapsed claim is not run again: OutcomeUnknownError, an event, the item marked."""
    clock, runs, events = ManualClock(), list[str](), list[Any]()
    hold(store, KEY, clock, lease=1, age=10)
    lapsed = store.get(KEY)
    handler = withdraw(store, clock, runs, on_lease_expired="refuse", on_event=events.append)

    with pytest.raises(OutcomeUnknownError) as caught:
        handler("w-1")

    assert runs == []
    assert caught.value.key == KEY
    assert lapsed is not None
    assert caught.value.fence == lapsed.fence
    assert "idemlock release" in str(caught.value)
    assert "idemlock resolve" in str(caught.value)
    item = store.get(KEY)
    assert item is not None
    assert item.status is LockStatus.IN_PROGRESS
    assert item.owner == lapsed.owner  # not taken over: the lapsed owner may still finish
    assert item.outcome_unknown_at_ms == int(clock() * 1000)
    assert [(event.kind, event.fence) for event in events] == [("outcome_unknown", lapsed.fence)]


def test_a_marked_key_refuses_every_claim_take_over_included(store: DynamoDBStore) -> None:
    """Once marked, later calls raise OutcomeUnknownError too, whatever their own policy."""
    clock, runs = ManualClock(), list[str]()
    hold(store, KEY, clock, lease=1, age=10)
    with pytest.raises(OutcomeUnknownError):
        withdraw(store, clock, runs, on_lease_expired="refuse")("w-1")
    marked = store.get(KEY)

    clock.advance(3600)
    for policy in ("refuse", "take_over"):
        with pytest.raises(OutcomeUnknownError):
            withdraw(store, clock, runs, on_lease_expired=policy)("w-1")

    assert runs == []
    assert store.get(KEY) == marked  # the first mark's time stays


def test_take_over_stays_the_default(store: DynamoDBStore) -> None:
    """Without the option a lapsed claim is taken over and the body runs, as before."""
    clock, runs, events = ManualClock(), list[str](), list[Any]()
    hold(store, KEY, clock, lease=1, age=10)

    assert withdraw(store, clock, runs, on_event=events.append)("w-1") == {"paid": "w-1"}

    assert runs == ["w-1"]
    assert [event.kind for event in events] == ["taken_over", "completed"]


def test_a_live_lease_is_still_in_progress_under_refuse(store: DynamoDBStore) -> None:
    """Refuse changes only lapsed leases: a live one is InProgressError, nothing marked."""
    clock, runs = ManualClock(), list[str]()
    hold(store, KEY, clock, lease=600, age=0)

    with pytest.raises(InProgressError):
        withdraw(store, clock, runs, on_lease_expired="refuse")("w-1")

    item = store.get(KEY)
    assert item is not None
    assert item.outcome_unknown_at_ms is None


def test_the_lapsed_owner_completing_settles_the_unknown_outcome(store: DynamoDBStore) -> None:
    """The owner was alive after all: its complete lands, clears the mark, and replays."""
    clock, runs = ManualClock(), list[str]()
    hold(store, KEY, clock, lease=1, age=10)
    handler = withdraw(store, clock, runs, on_lease_expired="refuse")
    with pytest.raises(OutcomeUnknownError):
        handler("w-1")
    lapsed = store.get(KEY)
    assert lapsed is not None

    now_ms = int(clock() * 1000)
    assert store.complete(
        KEY, lapsed.owner, now_ms=now_ms, result='{"paid":"late"}', expires_at_s=now_ms // 1000 + 60
    )

    item = store.get(KEY)
    assert item is not None
    assert item.outcome_unknown_at_ms is None
    assert handler("w-1") == {"paid": "late"}
    assert runs == []


class CompletesBeforeTheMark(MemoryStore):
    """The lapsed owner completes between the refused claim and its mark."""

    def mark_unknown(self, key: str, owner: str, *, now_ms: int) -> bool:
        self.complete(key, owner, now_ms=now_ms, result='"done late"', expires_at_s=None)
        return super().mark_unknown(key, owner, now_ms=now_ms)


def test_a_mark_that_races_the_owners_complete_replays_its_result() -> None:
    """The mark fails (the item changed): the claim looks again and replays the result."""
    store, clock, runs = CompletesBeforeTheMark(), ManualClock(), list[str]()
    hold(store, KEY, clock, lease=1, age=10)  # type: ignore[arg-type]

    result = withdraw(store, clock, runs, on_lease_expired="refuse")("w-1")

    assert result == "done late"
    assert runs == []
    assert store.calls["mark_unknown"] == 1


def test_on_lease_expired_is_checked_when_decorating() -> None:
    """Anything but the two words is a ConfigurationError naming them."""
    with pytest.raises(ConfigurationError, match='"take_over" or "refuse"'):
        idempotent(lambda key: key, store=MemoryStore(), on_lease_expired="rerun")  # type: ignore[arg-type]


# -- the operator's side ---------------------------------------------------------------------


def mark(store: DynamoDBStore, key: str = KEY) -> None:
    """Leave ``key`` as a refused claim leaves it: lapsed and marked."""
    clock = ManualClock()
    hold(store, key, clock, lease=1, age=10)
    with pytest.raises(OutcomeUnknownError):
        withdraw(store, clock, [], on_lease_expired="refuse")(key.split("#")[1])


def test_ls_unknown_lists_only_the_marked_keys(store: DynamoDBStore, idemlock: Run) -> None:
    """``ls --unknown`` finds the keys awaiting an operator, and not stale or live ones."""
    mark(store)
    hold(store, "withdrawals#stale", ManualClock(), lease=1, age=10)
    hold(store, "withdrawals#live", ManualClock(), lease=600, age=0)

    listed = as_json(idemlock("ls", "--unknown", "--output", "json"))
    table = idemlock("ls", "--unknown")

    assert [item["key"] for item in listed] == [KEY]
    assert listed[0]["outcome_unknown"] is True
    assert listed[0]["outcome_unknown_at_ms"] is not None
    assert "(outcome unknown)" in table.stdout
    assert "withdrawals#stale" not in table.stdout
    shown = idemlock("show", KEY)
    assert "outcome unknown" in shown.stdout
    stats = as_json(idemlock("stats", "--output", "json"))
    assert (stats["outcome_unknown"], stats["stale"]) == (1, 1)


def test_resolve_completed_with_a_result_replays_it(store: DynamoDBStore, idemlock: Run) -> None:
    """``resolve KEY --completed --result JSON``: duplicates replay it, the body never runs."""
    mark(store)

    done = idemlock("resolve", KEY, "--completed", "--result", '{"paid": "by hand"}', "--yes")

    assert done.returncode == 0, done.stderr
    item = store.get(KEY)
    assert item is not None
    assert item.status is LockStatus.COMPLETED
    assert item.outcome_unknown_at_ms is None
    runs: list[str] = []
    replayed = withdraw(store, ManualClock(), runs, on_lease_expired="refuse")("w-1")
    assert replayed == {"paid": "by hand"}
    assert runs == []
    assert as_json(idemlock("ls", "--unknown", "--output", "json")) == []


def test_resolve_without_a_result_replays_none(store: DynamoDBStore, idemlock: Run) -> None:
    """Resolved with no result, a duplicate gets None and does not run."""
    mark(store)

    assert idemlock("resolve", KEY, "--completed", "--yes").returncode == 0

    runs: list[str] = []
    assert withdraw(store, ManualClock(), runs)("w-1") is None
    assert runs == []


def test_release_of_a_marked_key_runs_it_again(store: DynamoDBStore, idemlock: Run) -> None:
    """``release KEY``: the operator decides the work was not done; the next call runs it."""
    mark(store)

    assert idemlock("release", KEY, "--yes").returncode == 0

    runs: list[str] = []
    assert withdraw(store, ManualClock(), runs, on_lease_expired="refuse")("w-1") == {"paid": "w-1"}
    assert runs == ["w-1"]


def late_owner(
    store: DynamoDBStore, idemlock: Run, runs: list[str], *, fails: bool
) -> Callable[[str], object]:
    """A refuse handler whose first run pauses past its lease; meanwhile a duplicate marks the
    key and the operator resolves it (``--result '{"paid": "by hand"}'``); then the first run
    finishes after all: it returns, or (``fails``) raises ``ConnectionError``."""
    clock = ManualClock()

    def body(withdrawal_id: str) -> dict[str, object]:
        runs.append(withdrawal_id)
        if len(runs) == 1:
            clock.advance(10)  # paused past its lease, alive
            with pytest.raises(OutcomeUnknownError):
                handler(withdrawal_id)
            resolved = idemlock(
                "resolve", KEY, "--completed", "--result", '{"paid": "by hand"}', "--yes"
            )
            assert resolved.returncode == 0, resolved.stderr
            if fails:
                raise ConnectionError("the payment provider went away")
        return {"paid": "late"}

    handler = idempotent(
        lambda withdrawal_id: withdrawal_id,
        store=store,
        namespace="withdrawals",
        clock=clock,
        lease=1,
        on_lease_expired="refuse",
    )(body)
    return handler


def test_a_resolved_key_keeps_the_operators_result_when_its_owner_completes_late(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """The operator resolved the key with a result; the paused owner then completes: it hears
    that the key is not its own any more, and every duplicate replays the operator's result
    (found by the simulation's ``recovery`` sweep, about one seed in five, 12 and 13 among the
    first 20: the owner's complete, conditioned on its owner token only, overwrote the
    resolution)."""
    runs: list[str] = []
    handler = late_owner(store, idemlock, runs, fails=False)
    with pytest.raises(LockLostError):
        handler("w-1")

    assert handler("w-1") == {"paid": "by hand"}
    assert runs == ["w-1"]


def test_a_resolved_key_is_not_freed_when_its_owner_fails_late(
    store: DynamoDBStore, idemlock: Run
) -> None:
    """The operator resolved the key; the paused owner then fails: its release must not delete
    the completed key, or the next delivery runs the withdrawal again."""
    runs: list[str] = []
    handler = late_owner(store, idemlock, runs, fails=True)
    with pytest.raises(ConnectionError):
        handler("w-1")

    assert handler("w-1") == {"paid": "by hand"}
    assert runs == ["w-1"]


def test_resolve_refuses_what_it_must_not_settle(store: DynamoDBStore, idemlock: Run) -> None:
    """Not JSON: exit 2; a live claim without --force, a completed or absent key: exit 1."""
    mark(store)
    hold(store, "withdrawals#live", ManualClock(), lease=600, age=0)
    withdraw(store, ManualClock(), [])("done")

    not_json = idemlock("resolve", KEY, "--completed", "--result", "{paid", "--yes")
    live = idemlock("resolve", "withdrawals#live", "--completed", "--yes")
    completed = idemlock("resolve", "withdrawals#done", "--completed", "--yes")
    absent = idemlock("resolve", "withdrawals#nope", "--completed", "--yes")
    no_decision = idemlock("resolve", KEY, "--yes")

    assert not_json.returncode == 2
    assert "--result is not JSON" in not_json.stderr
    assert (live.returncode, completed.returncode, absent.returncode) == (1, 1, 1)
    assert "live invocation" in live.stderr
    assert "COMPLETED already" in completed.stderr
    assert no_decision.returncode == 2
    item = store.get(KEY)
    assert item is not None
    assert item.outcome_unknown_at_ms is not None  # still awaiting a decision
    forced = idemlock("resolve", "withdrawals#live", "--completed", "--force", "--yes")
    assert forced.returncode == 0, forced.stderr


def test_a_batch_record_with_an_unknown_outcome_fails_and_does_not_run(
    store: DynamoDBStore,
) -> None:
    """In a batch, the refused record is reported failed; the others run."""
    hold(store, "queue#m-0", ManualClock(), lease=1, age=10)
    runs: list[str] = []

    def handle(record: dict[str, Any], context: object) -> None:
        runs.append(record["messageId"])

    batch = idempotent_records(
        lambda record: record["messageId"],
        store=store,
        namespace="queue",
        on_lease_expired="refuse",
    )(handle)

    assert batch(sqs_event(2), LambdaContext()) == {
        "batchItemFailures": [{"itemIdentifier": "m-0"}]
    }
    assert runs == ["m-1"]
    item = store.get("queue#m-0")
    assert item is not None
    assert item.outcome_unknown_at_ms is not None


def test_a_waiter_whose_holder_lapses_under_refuse_gets_outcome_unknown(
    store: DynamoDBStore,
) -> None:
    """wait= and refuse: the lease runs out while the duplicate waits; it does not run."""
    clock, runs = ManualClock(), list[str]()
    hold(store, KEY, clock, lease=1.5, age=1)  # lapses half a second from now, in real time

    with pytest.raises(OutcomeUnknownError):
        withdraw(store, time.time, runs, on_lease_expired="refuse", wait=30)("w-1")

    assert runs == []


def test_an_http_retry_of_a_timed_out_request_gets_a_409_outcome_unknown(
    store: DynamoDBStore,
) -> None:
    """idempotent_http with refuse: the retry does not run; a 409 problem names the type."""
    runs: list[int] = []

    def pay_out(event: object, context: object) -> dict[str, Any]:
        runs.append(1)
        return {"statusCode": 201, "body": "{}"}

    handler = idempotent_http(store=store, namespace="payouts", on_lease_expired="refuse")(pay_out)
    request = http_event("rest")
    handler(request, LambdaContext())
    (item,) = list(store.scan())
    # As if that first request had timed out in flight: its claim left IN_PROGRESS, lapsed.
    store.client.update_item(
        TableName=store.table_name,
        Key={"id": {"S": item.key}},
        UpdateExpression="SET #status = :in_progress, #lease = :past REMOVE #result",
        ExpressionAttributeNames={
            "#status": "status",
            "#lease": "lease_expires_at_ms",
            "#result": "result",
        },
        ExpressionAttributeValues={":in_progress": {"S": "IN_PROGRESS"}, ":past": {"N": "1"}},
    )

    retry = handler(request, LambdaContext())

    assert retry["statusCode"] == 409
    assert json.loads(retry["body"])["type"].endswith("#idempotency-outcome-unknown")
    assert runs == [1]
