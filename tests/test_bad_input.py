"""Bad input: malformed and hostile events, keys, results and fingerprints.

Every case has a short id and a documented outcome: a typed error from ``idemlock.errors``, the
body's own exception re-raised unchanged, or a defined result. Each case also checks that no
internal exception (a raw ``KeyError``, ``TypeError``, ``ValueError``, ``RecursionError``...)
escapes from idemlock, and that no permanent lock is left: afterwards every key of the case is
absent, ``COMPLETED``, or ``IN_PROGRESS`` within a lease that a clock advance frees (proved by
taking it over).

Single-event cases run on ``MemoryStore`` and on DynamoDB Local, where the real key and item
size limits apply. ``docs/bad-input.md`` lists every case id with its outcome;
:func:`test_doc_table_lists_every_case` keeps the two in step.
"""

from __future__ import annotations

import copy
import gc
import random
import re
import string
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from idemlock import AttributeNames, DynamoDBStore, LockStore, idempotent, idempotent_records
from idemlock._results import unstored_reason
from idemlock.batch import BatchOutcome, RecordsHandler, RecordStatus
from idemlock.dynamodb import RESULT_LIMIT_BYTES
from idemlock.errors import (
    BatchFailedError,
    ConfigurationError,
    EventError,
    FingerprintError,
    InProgressError,
    InvalidKeyError,
    MissingKeyError,
    PayloadMismatchError,
    ResultNotStoredError,
    UnstorableResultError,
    UnstorableValueError,
)
from idemlock.item import LockItem, LockStatus
from idemlock.keys import MAX_KEY_BYTES, storage_key
from idemlock.sources import s3
from idemlock.sources.dynamodb_streams import StreamRecord
from idemlock.sources.sqs import SqsMessage
from idemlock.store import Claim
from idemlock.testing import LambdaContext, ManualClock, MemoryStore
from idemlock.testing.contract import Body
from tests.aws import ROOT, fresh_table, make_client
from tests.batch_events import kinesis_event, s3_event, sqs_event, stream_event

LEASE_S = 60
LEASE_MS = LEASE_S * 1000
DOC = ROOT / "docs" / "bad-input.md"
BUCKET = "uploads"

Event = dict[str, Any]


# -- backends and the harness -------------------------------------------------------------------


@pytest.fixture(scope="module")
def _bad_input_table(dynamodb_local: str) -> DynamoDBStore:
    """One lock table on DynamoDB Local for this module; cases use fresh namespaces."""
    return fresh_table(dynamodb_local)


@pytest.fixture(params=["memory", pytest.param("dynamodb-local", marks=pytest.mark.servers)])
def lock_store(request: pytest.FixtureRequest) -> LockStore:
    """MemoryStore, then DynamoDB Local (real item-size and key-length limits)."""
    if request.param == "memory":
        return MemoryStore()
    store: DynamoDBStore = request.getfixturevalue("_bad_input_table")
    return store


@dataclass
class Harness:
    """A store, a clock and a namespace of one case, with the checks every case ends with."""

    store: LockStore
    clock: ManualClock
    namespace: str

    def decorate(
        self, key_fn: Callable[..., object], body: Callable[..., Any], **options: Any
    ) -> Callable[..., Any]:
        """``body`` behind ``@idempotent(key_fn)`` with this case's store, clock and namespace."""
        decorator = idempotent(
            key_fn,
            store=self.store,
            clock=self.clock,
            namespace=self.namespace,
            lease=LEASE_S,
            **options,
        )
        return decorator(body)

    def records_handler(
        self, handle: Callable[[Any, Any], object], **options: Any
    ) -> RecordsHandler:
        """``handle`` behind ``@idempotent_records`` with this case's store, clock, namespace."""
        decorator = idempotent_records(
            store=self.store,
            clock=self.clock,
            namespace=self.namespace,
            lease=LEASE_S,
            **options,
        )
        return decorator(handle)

    def key(self, key: str) -> str:
        """The stored form of ``key`` in this namespace."""
        return storage_key(self.namespace, key)

    def records(self) -> list[LockItem]:
        """Every record of this case (the table may be shared with other cases)."""
        return list(self.store.scan(prefix=f"{self.namespace}#"))

    def describe(self) -> str:
        """The case's records, short, for assertion messages."""
        return repr([(r.key[:60], r.status.value, r.lease_expires_at_ms) for r in self.records()])

    def claims_sent(self) -> int | None:
        """Claims sent so far, where the store counts them (MemoryStore)."""
        return self.store.calls["claim"] if isinstance(self.store, MemoryStore) else None

    def assert_nothing_claimed(self) -> None:
        """No record exists, and on MemoryStore no claim was even sent."""
        assert self.records() == [], self.describe()
        assert self.claims_sent() in (None, 0)

    def assert_no_permanent_lock(self) -> None:
        """Every record is COMPLETED, or IN_PROGRESS within a lease that a takeover frees."""
        now_ms = int(self.clock() * 1000)
        held = []
        for record in self.records():
            if record.status is LockStatus.COMPLETED:
                continue
            lease_end = record.lease_expires_at_ms
            assert lease_end is not None, f"IN_PROGRESS without a lease: {record}"
            assert lease_end <= now_ms + LEASE_MS, f"lease beyond the configured one: {record}"
            held.append(record)
        if not held:
            return
        self.clock.advance(LEASE_S + 1)
        now_ms = int(self.clock() * 1000)
        for record in held:
            owner = uuid.uuid4().hex
            claim = Claim(
                key=record.key,
                owner=owner,
                now_ms=now_ms,
                fence_base=0,
                lease_expires_at_ms=now_ms + 1000,
                expires_at_s=now_ms // 1000 + 3600,
            )
            if self.store.claim(claim).acquired:
                assert self.store.release(record.key, owner)
                continue
            # Not free: acceptable only if a complete still in flight has landed meanwhile.
            now = self.store.get(record.key)
            assert now is not None, f"{record.key!r} vanished"
            assert now.status is LockStatus.COMPLETED, f"lease did not free {record.key!r}: {now}"


@pytest.fixture
def harness(lock_store: LockStore, clock: ManualClock, namespace: str) -> Iterator[Harness]:
    """The case's harness; after the case, no key of it may be locked for good."""
    h = Harness(lock_store, clock, namespace)
    yield h
    h.assert_no_permanent_lock()


@pytest.fixture
def memory(clock: ManualClock, namespace: str) -> Iterator[Harness]:
    """A harness on MemoryStore only (the large batch, stack-depth cases)."""
    h = Harness(MemoryStore(), clock, namespace)
    yield h
    h.assert_no_permanent_lock()


def raised(call: Callable[[], object]) -> Exception | None:
    """The exception ``call`` raises, or ``None``."""
    try:
        call()
    except Exception as exc:  # the cases compare its exact type
        return exc
    return None


def assert_typed(error: BaseException | None, expected: type[BaseException], h: Harness) -> None:
    """``error`` is exactly ``expected`` (never a raw internal exception); records for context."""
    assert type(error) is expected, (
        f"expected {expected.__name__}, got {type(error).__name__}: {error!s:.200}; "
        f"records: {h.describe()}"
    )


def same_json(left: Any, right: Any) -> bool:
    """Equal values of equal types, floats by repr (``-0.0`` is not ``0.0``)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float):
        return repr(left) == repr(right)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same_json, left, right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(same_json(left[k], right[k]) for k in left)
    return bool(left == right)


def noise(length: int) -> str:
    """``length`` characters of seeded random printable ASCII: text that barely compresses."""
    rng = random.Random(length)
    alphabet = string.ascii_letters + string.digits + string.punctuation.replace('"', "")
    return "".join(rng.choices(alphabet.replace("\\", ""), k=length))  # JSON escapes neither


def nested_list(depth: int) -> list[Any]:
    """``[[[...]]]`` ``depth`` levels deep, built without recursion."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def single(case_id: str) -> pytest.MarkDecorator:
    """Give a one-case test its corpus id: the test id reads ``test_name[case_id]``."""
    return pytest.mark.parametrize("case_id", [case_id])


# -- S3 single events: malformed shapes ---------------------------------------------------------


def s3_good() -> Event:
    return s3_event("incoming/file.csv", bucket=BUCKET)


def s3_with(change: Callable[[dict[str, Any]], object]) -> Event:
    """The good S3 event with ``change`` applied to its (only) record."""
    event = s3_good()
    change(event["Records"][0])
    return event


def set_key(value: object) -> Callable[[dict[str, Any]], object]:
    return lambda record: record["s3"]["object"].__setitem__("key", value)


S3_MALFORMED = [
    # Every one: EventError naming the path, before anything is claimed; the body does not run.
    pytest.param("Records", "", id="s3-event-str"),
    pytest.param(None, "", id="s3-event-none"),
    pytest.param([s3_good()["Records"][0]], "", id="s3-event-list"),
    pytest.param(42, "", id="s3-event-int"),
    pytest.param({}, "s3.bucket.name", id="s3-missing-records"),
    pytest.param({"Records": []}, "Records", id="s3-empty-records"),
    pytest.param({"Records": None}, "Records", id="s3-records-none"),
    pytest.param({"Records": "abc"}, "Records", id="s3-records-str"),
    pytest.param({"Records": {"0": {}}}, "Records", id="s3-records-dict"),
    pytest.param({"Records": ["x"]}, "Records[0]", id="s3-record-str"),
    pytest.param({"Records": [None]}, "Records[0]", id="s3-record-none"),
    pytest.param(s3_event("a", "b"), "Records", id="s3-two-records"),
    pytest.param(
        # aws:kinesis: an aws:sqs record is now read as a message carrying a notification.
        s3_with(lambda r: r.__setitem__("eventSource", "aws:kinesis")),
        "Records[0].eventSource",
        id="s3-wrong-event-source",
    ),
    pytest.param(
        s3_with(lambda r: r.pop("eventSource")), "Records[0].eventSource", id="s3-no-event-source"
    ),
    pytest.param(s3_with(lambda r: r.pop("s3")), "Records[0].s3.bucket.name", id="s3-missing-s3"),
    pytest.param(
        s3_with(lambda r: r.__setitem__("s3", "x")), "Records[0].s3.bucket.name", id="s3-s3-str"
    ),
    pytest.param(
        s3_with(lambda r: r["s3"].pop("bucket")),
        "Records[0].s3.bucket.name",
        id="s3-missing-bucket",
    ),
    pytest.param(
        s3_with(lambda r: r["s3"]["bucket"].pop("name")),
        "Records[0].s3.bucket.name",
        id="s3-missing-bucket-name",
    ),
    pytest.param(
        s3_with(lambda r: r["s3"]["bucket"].__setitem__("name", 5)),
        "Records[0].s3.bucket.name",
        id="s3-bucket-int",
    ),
    pytest.param(
        s3_with(lambda r: r["s3"].pop("object")),
        "Records[0].s3.object.key",
        id="s3-missing-object",
    ),
    pytest.param(
        s3_with(lambda r: r["s3"].__setitem__("object", "k")),
        "Records[0].s3.object.key",
        id="s3-object-str",
    ),
    pytest.param(
        s3_with(lambda r: r["s3"]["object"].pop("key")),
        "Records[0].s3.object.key",
        id="s3-missing-key",
    ),
    pytest.param(s3_with(set_key(None)), "Records[0].s3.object.key", id="s3-key-null"),
    pytest.param(s3_with(set_key(123)), "Records[0].s3.object.key", id="s3-key-int"),
    pytest.param(s3_with(set_key("")), "Records[0].s3.object.key", id="s3-key-empty"),
    pytest.param(s3_with(set_key(["a"])), "Records[0].s3.object.key", id="s3-key-list"),
    # Percent-escapes that are not UTF-8: refused, never decoded with replacement characters
    # (two different keys would then share one lock).
    pytest.param(
        s3_with(set_key("%E3%83")), "Records[0].s3.object.key", id="s3-key-truncated-utf8"
    ),
    pytest.param(s3_with(set_key("%FF")), "Records[0].s3.object.key", id="s3-key-invalid-utf8"),
    pytest.param(s3_with(set_key("%C0%AF")), "Records[0].s3.object.key", id="s3-key-overlong-utf8"),
    pytest.param(
        s3_with(set_key("%ED%A0%80")), "Records[0].s3.object.key", id="s3-key-encoded-surrogate"
    ),
    # JSON can carry a lone surrogate ("\ud800") unescaped by percent-encoding: it is not UTF-8
    # either, so it is refused the same way.
    pytest.param(
        s3_with(set_key("bad-\ud800.csv")), "Records[0].s3.object.key", id="s3-key-lone-surrogate"
    ),
]


@pytest.mark.parametrize(("event", "path"), S3_MALFORMED)
def test_s3_malformed_event_is_an_event_error(harness: Harness, event: object, path: str) -> None:
    """EventError at ``path``; the body does not run; nothing is claimed."""
    body = Body(lambda: {"ok": True})
    handler = harness.decorate(s3.object_key, body)

    error = raised(lambda: handler(copy.deepcopy(event), None))

    assert_typed(error, EventError, harness)
    assert isinstance(error, EventError)
    assert error.path == path
    assert len(body.runs) == 0
    harness.assert_nothing_claimed()


# -- S3 single events: unusual but valid keys ---------------------------------------------------

S3_KEYS = [
    # raw key in the notification -> the decoded object key; every one runs once, then replays.
    pytest.param("%E3%83%87%E3%83%BC%E3%82%BF.csv", "データ.csv", id="s3-key-percent-unicode"),
    pytest.param("データ.csv", "データ.csv", id="s3-key-raw-unicode"),
    pytest.param("a+b", "a b", id="s3-key-plus-is-space"),
    pytest.param("a%2Bb", "a+b", id="s3-key-encoded-plus"),
    pytest.param("%ZZ", "%ZZ", id="s3-key-invalid-escape"),
    pytest.param("%", "%", id="s3-key-lone-percent"),
    pytest.param("+", " ", id="s3-key-plus-only"),
    pytest.param("a%00b", "a\x00b", id="s3-key-encoded-nul"),
    pytest.param("a\x00b", "a\x00b", id="s3-key-raw-nul"),
    pytest.param("%01%1F%7F%09%0A", "\x01\x1f\x7f\t\n", id="s3-key-control-chars"),
    pytest.param("a" * 5000, "a" * 5000, id="s3-key-5000-chars"),
    pytest.param("%E3%83%87" * 5000, "デ" * 5000, id="s3-key-5000-multibyte"),
]


@pytest.mark.parametrize(("raw", "decoded"), S3_KEYS)
def test_s3_unusual_key_runs_once_then_replays(harness: Harness, raw: str, decoded: str) -> None:
    """Runs once under ``bucket/decoded`` (hashed past 2048 bytes); the duplicate replays."""
    body = Body(lambda: {"done": True})
    handler = harness.decorate(s3.object_key, body)
    event = s3_event(raw, bucket=BUCKET)

    assert handler(event, None) == {"done": True}
    assert handler(copy.deepcopy(event), None) == {"done": True}

    assert len(body.runs) == 1
    stored = harness.key(f"{BUCKET}/{decoded}")
    assert len(stored.encode("utf-8")) <= MAX_KEY_BYTES
    if len(f"{harness.namespace}#{BUCKET}/{decoded}".encode()) > MAX_KEY_BYTES:
        assert re.search(r"#sha256:[0-9a-f]{64}$", stored)
    record = harness.store.get(stored)
    assert record is not None
    assert record.status is LockStatus.COMPLETED
    assert [r.key for r in harness.records()] == [stored]


@single("s3-key-nul-distinct")
def test_keys_differing_only_after_a_nul_are_distinct(harness: Harness, case_id: str) -> None:
    """``a%00b`` and ``a%00c`` are two objects: two runs, two items (no C-string truncation)."""
    body = Body(lambda: {"ok": True})
    handler = harness.decorate(s3.object_key, body)

    handler(s3_event("a%00b", bucket=BUCKET), None)
    handler(s3_event("a%00c", bucket=BUCKET), None)

    assert len(body.runs) == 2
    assert sorted(r.key for r in harness.records()) == sorted(
        [harness.key(f"{BUCKET}/a\x00b"), harness.key(f"{BUCKET}/a\x00c")]
    )


# -- key functions ------------------------------------------------------------------------------


class CustomKeyProblem(Exception):
    """An exception of the caller's own, raised by a key function."""


def raiser(error: Exception) -> Callable[[Any], object]:
    def key_fn(event: Any) -> object:
        raise error

    return key_fn


KEY_REFUSED = [
    # key_fn result or failure -> the exact typed error; body not run, nothing claimed.
    pytest.param(lambda e: None, MissingKeyError, None, id="key-none"),
    pytest.param(lambda e: "", MissingKeyError, None, id="key-empty"),
    pytest.param(lambda e: {"id": 1}, InvalidKeyError, None, id="key-dict"),
    pytest.param(lambda e: ["a"], InvalidKeyError, None, id="key-list"),
    pytest.param(lambda e: b"abc", InvalidKeyError, None, id="key-bytes"),
    pytest.param(lambda e: True, InvalidKeyError, None, id="key-bool-true"),
    pytest.param(lambda e: False, InvalidKeyError, None, id="key-bool-false"),
    pytest.param(lambda e: 1.5, InvalidKeyError, None, id="key-float"),
    pytest.param(lambda e: float("nan"), InvalidKeyError, None, id="key-nan"),
    # A lone surrogate cannot be written as UTF-8, so it cannot be a DynamoDB key.
    pytest.param(lambda e: "x\ud800", InvalidKeyError, None, id="key-lone-surrogate"),
    # An int is accepted, but one past Python's 4300-digit str() limit has no text form.
    pytest.param(lambda e: 10**5000, InvalidKeyError, None, id="key-int-5001-digits"),
    pytest.param(lambda e: e["missing"], MissingKeyError, KeyError, id="key-fn-keyerror"),
    pytest.param(lambda e: e["list"][5], MissingKeyError, IndexError, id="key-fn-indexerror"),
    pytest.param(raiser(TypeError("bad")), MissingKeyError, TypeError, id="key-fn-typeerror"),
    pytest.param(
        lambda e: e["obj"].missing, MissingKeyError, AttributeError, id="key-fn-attributeerror"
    ),
    # key_fn's parameters do not fit the function's: a configuration error, not a missing key.
    pytest.param(lambda: "k", ConfigurationError, TypeError, id="key-fn-wrong-signature"),
]


@pytest.mark.parametrize(("key_fn", "expected", "cause"), KEY_REFUSED)
def test_refused_key_raises_a_typed_error_before_claiming(
    harness: Harness,
    key_fn: Callable[..., object],
    expected: type[Exception],
    cause: type[Exception] | None,
) -> None:
    """The exact typed error (original as ``__cause__``); body not run; nothing claimed."""
    body = Body(lambda: {"ok": True})
    handler = harness.decorate(key_fn, body)

    error = raised(lambda: handler({"list": [], "obj": object()}))

    assert_typed(error, expected, harness)
    assert error is not None
    if cause is not None:
        assert type(error.__cause__) is cause
    assert len(body.runs) == 0
    harness.assert_nothing_claimed()


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(CustomKeyProblem("no key for you"), id="key-fn-custom-exception"),
        pytest.param(ValueError("not a lookup"), id="key-fn-valueerror"),
    ],
)
def test_key_fn_exception_outside_lookups_propagates_unchanged(
    harness: Harness, error: Exception
) -> None:
    """Only lookup errors mean "no key": any other exception is the caller's, re-raised as is."""
    body = Body(lambda: {"ok": True})
    handler = harness.decorate(raiser(error), body)

    got = raised(lambda: handler({}))

    assert got is error
    assert len(body.runs) == 0
    harness.assert_nothing_claimed()


def ns_len(namespace: str) -> int:
    return len(f"{namespace}#".encode())


KEY_ACCEPTED = [
    # what key_fn returns -> (namespace -> the key as stored); each runs once, then replays.
    pytest.param(lambda ns: " ", lambda ns: f"{ns}# ", id="key-whitespace"),
    pytest.param(lambda ns: "\t\n", lambda ns: f"{ns}#\t\n", id="key-control-whitespace"),
    pytest.param(lambda ns: 0, lambda ns: f"{ns}#0", id="key-int-zero"),
    pytest.param(lambda ns: -(2**70), lambda ns: f"{ns}#{-(2**70)}", id="key-negative-bigint"),
    pytest.param(lambda ns: "a\x00b", lambda ns: f"{ns}#a\x00b", id="key-nul"),
    pytest.param(lambda ns: "a#b", lambda ns: f"{ns}#a#b", id="key-with-separator"),
    pytest.param(lambda ns: "デ😀", lambda ns: f"{ns}#デ😀", id="key-unicode"),
    # The stored key at exactly DynamoDB's 2048-byte limit is kept; one byte more is hashed.
    pytest.param(
        lambda ns: "k" * (MAX_KEY_BYTES - ns_len(ns)),
        lambda ns: f"{ns}#" + "k" * (MAX_KEY_BYTES - ns_len(ns)),
        id="key-2048-bytes",
    ),
    pytest.param(
        lambda ns: "k" * (MAX_KEY_BYTES - ns_len(ns) + 1),
        lambda ns: storage_key(ns, "k" * (MAX_KEY_BYTES - ns_len(ns) + 1)),
        id="key-2049-bytes-hashed",
    ),
    pytest.param(
        lambda ns: "x" * 1_000_000,
        lambda ns: storage_key(ns, "x" * 1_000_000),
        id="key-1mb-hashed",
    ),
]


@pytest.mark.parametrize(("make_key", "stored"), KEY_ACCEPTED)
def test_accepted_key_runs_once_then_replays(
    harness: Harness, make_key: Callable[[str], object], stored: Callable[[str], str]
) -> None:
    """Runs once under the stored key (at most 2048 bytes); the duplicate replays."""
    key = make_key(harness.namespace)
    body = Body(lambda: "done")
    handler = harness.decorate(lambda event: key, body)

    assert handler({}) == "done"
    assert handler({}) == "done"

    assert len(body.runs) == 1
    expected = stored(harness.namespace)
    assert len(expected.encode("utf-8")) <= MAX_KEY_BYTES
    assert [r.key for r in harness.records()] == [expected]
    assert [r.status for r in harness.records()] == [LockStatus.COMPLETED]


@single("key-forged-hash-form")
def test_a_short_key_spelling_a_long_keys_hash_is_another_key(
    harness: Harness, case_id: str
) -> None:
    """Distinct keys stay distinct (README: "still unique"), even when one is chosen to spell
    the hashed form of the other: the long key must still run after the forged one completed.
    """
    long_key = "a" * 3000
    forged = harness.key(long_key)[len(f"{harness.namespace}#") :]
    body = Body(lambda: {"ok": True})
    handler = harness.decorate(lambda event: event, body)

    handler(forged)
    handler(long_key)

    assert len(body.runs) == 2, (
        f"the long key was treated as a duplicate of {forged[-72:]!r}: both are stored as "
        f"{harness.key(forged)[-72:]!r}"
    )


# -- the body's own exceptions ------------------------------------------------------------------


class BodyFailed(Exception):
    """The body's own error."""


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(KeyError("order_id"), id="body-keyerror"),
        pytest.param(TypeError("bad operand"), id="body-typeerror"),
        pytest.param(EventError("bad body", path="body"), id="body-event-error"),
        pytest.param(SystemExit(3), id="body-systemexit"),
        pytest.param(BodyFailed("boom"), id="body-custom-exception"),
    ],
)
def test_body_exception_is_reraised_unchanged_and_releases(
    harness: Harness, error: BaseException
) -> None:
    """The very exception object is re-raised (a KeyError is not turned into MissingKeyError,
    a SystemExit is not swallowed); the key is released, so the redelivery runs again.
    """
    runs: list[int] = []

    def body(event: object) -> None:
        runs.append(1)
        raise error

    handler = harness.decorate(lambda event: "b", body)

    for _ in range(2):
        with pytest.raises(BaseException) as caught:  # noqa: PT011  (identity checked below)
            handler({})
        assert caught.value is error
        assert harness.store.get(harness.key("b")) is None
    assert len(runs) == 2


# -- Lambda context -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "remaining",
    [
        pytest.param(float("inf"), id="context-remaining-inf"),
        pytest.param(float("nan"), id="context-remaining-nan"),
    ],
)
def test_context_without_a_usable_remaining_time_gets_the_default_lease(
    harness: Harness, remaining: float
) -> None:
    """A context reporting no finite positive time left: the default lease (5 min) applies."""
    seen: list[int | None] = []

    def body(event: object, context: object) -> str:
        record = harness.store.get(harness.key("ctx"))
        seen.append(None if record is None else record.lease_expires_at_ms)
        return "done"

    handler = idempotent(
        lambda event, context: "ctx",
        store=harness.store,
        clock=harness.clock,
        namespace=harness.namespace,
    )(body)
    context = LambdaContext(remaining_ms=remaining)  # type: ignore[arg-type]

    error = raised(lambda: handler({}, context))

    assert error is None, f"{type(error).__name__}: {error}"
    assert seen == [int(harness.clock() * 1000) + 300_000]


@pytest.mark.parametrize(
    "remaining",
    [
        pytest.param(0, id="context-remaining-zero"),
        pytest.param(-5, id="context-remaining-negative"),
    ],
)
def test_context_with_no_time_left_gets_the_grace_only(harness: Harness, remaining: int) -> None:
    """No time left (0 or less): the invocation is past its deadline; the 2 s grace alone."""
    seen: list[int | None] = []

    def body(event: object, context: object) -> None:
        record = harness.store.get(harness.key("ctx"))
        seen.append(None if record is None else record.lease_expires_at_ms)

    handler = idempotent(
        lambda event, context: "ctx",
        store=harness.store,
        clock=harness.clock,
        namespace=harness.namespace,
        lease=600,
    )(body)
    handler({}, LambdaContext(remaining_ms=remaining))

    assert seen == [int(harness.clock() * 1000) + 2_000]


# -- results ------------------------------------------------------------------------------------


def circular_dict() -> dict[str, Any]:
    value: dict[str, Any] = {}
    value["self"] = value
    return value


def circular_list() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


UNSTORABLE = [
    # body result -> the error the caller gets; the key completes without the result (the
    # reason in the item) and a duplicate gets ResultNotStoredError: the body never runs twice.
    # Random printable text: zlib leaves it at about 80 %, so it is still over the limit stored.
    pytest.param(lambda: noise(1_000_000), UnstorableResultError, id="result-1mb-string"),
    pytest.param(
        lambda: noise(RESULT_LIMIT_BYTES * 2),
        UnstorableResultError,
        id="result-over-the-limit-compressed",
    ),
    pytest.param(object, UnstorableValueError, id="result-object"),
    pytest.param(lambda: {"a": [1, 2j]}, UnstorableValueError, id="result-nested-complex"),
    pytest.param(lambda: nested_list(100_000), UnstorableValueError, id="result-nested-100k"),
    pytest.param(circular_dict, UnstorableValueError, id="result-circular-dict"),
    pytest.param(circular_list, UnstorableValueError, id="result-circular-list"),
    pytest.param(lambda: 10**4300, UnstorableValueError, id="result-int-4301-digits"),
    # Not encodable as UTF-8, so not storable (JSON from an event can carry one: "\ud800").
    pytest.param(lambda: "x\ud800", UnstorableValueError, id="result-lone-surrogate"),
]


@pytest.mark.parametrize(("make_result", "expected"), UNSTORABLE)
def test_unstorable_result_completes_the_key_and_never_runs_twice(
    harness: Harness, make_result: Callable[[], object], expected: type[UnstorableResultError]
) -> None:
    """The body ran: the caller gets an UnstorableResultError naming the key, the key is
    COMPLETED with the reason instead of a result, and a duplicate gets ResultNotStoredError
    without running the body (before: the key was released and the redelivery ran it again).
    """
    body = Body(make_result)
    handler = harness.decorate(lambda event: "r", body)

    error = raised(lambda: handler({}))

    assert_typed(error, expected, harness)
    assert isinstance(error, UnstorableResultError)
    assert error.key == harness.key("r")
    record = harness.store.get(harness.key("r"))
    assert record is not None, harness.describe()
    assert record.status is LockStatus.COMPLETED
    assert unstored_reason(record.result) == error.reason[:1000]
    duplicate = raised(lambda: handler({}))
    assert_typed(duplicate, ResultNotStoredError, harness)
    assert len(body.runs) == 1


@pytest.mark.parametrize(
    "make_result",
    [
        pytest.param(lambda: noise(1_000_000), id="result-1mb-string-omit"),
        pytest.param(object, id="result-object-omit"),
        pytest.param(circular_list, id="result-circular-list-omit"),
        pytest.param(lambda: "x\ud800", id="result-lone-surrogate-omit"),
    ],
)
def test_unstorable_result_with_omit_completes_without_it(
    harness: Harness, make_result: Callable[[], object]
) -> None:
    """``on_unstorable_result="omit"``: the first caller gets its value, the key is COMPLETED
    without a result (the reason in its place), and the duplicate returns None without running
    the body.
    """
    value = make_result()
    body = Body(lambda: value)
    handler = harness.decorate(lambda event: "r", body, on_unstorable_result="omit")

    first: list[object] = []
    error = raised(lambda: first.append(handler({})))

    assert error is None, f"{type(error).__name__}: {error}; records: {harness.describe()}"
    assert first[0] is value
    assert handler({}) is None
    assert len(body.runs) == 1
    record = harness.store.get(harness.key("r"))
    assert record is not None
    assert record.status is LockStatus.COMPLETED
    assert unstored_reason(record.result) is not None


REPLAYED = [
    # body result -> what a duplicate gets back (the first caller gets the object itself).
    pytest.param([], [], id="result-empty-list"),
    pytest.param({}, {}, id="result-empty-dict"),
    pytest.param("", "", id="result-empty-string"),
    pytest.param(0, 0, id="result-zero"),
    pytest.param(False, False, id="result-false"),
    pytest.param(None, None, id="result-none"),
    pytest.param(10**4000, 10**4000, id="result-huge-int"),
    pytest.param(
        [2**63, -(2**63) - 1, 2**64, 10**38 + 1],
        [2**63, -(2**63) - 1, 2**64, 10**38 + 1],
        id="result-int64-edges",
    ),
    pytest.param(
        [-0.0, 5e-324, 1.7976931348623157e308, 0.1],
        [-0.0, 5e-324, 1.7976931348623157e308, 0.1],
        id="result-float-edges",
    ),
    pytest.param(
        "デ😀\u2028\u0000\x7f\U0010ffff",
        "デ😀\u2028\u0000\x7f\U0010ffff",
        id="result-unicode",
    ),
    pytest.param({"デ": {"": [[], {}]}}, {"デ": {"": [[], {}]}}, id="result-unicode-keys"),
    pytest.param(nested_list(200), nested_list(200), id="result-nested-200"),
    pytest.param((1, "a"), (1, "a"), id="result-tuple"),
    # Refused before the typed codec; now stored (tagged) and replayed as returned.
    pytest.param({1, 2}, {1, 2}, id="result-set"),
    pytest.param(b"bytes", b"bytes", id="result-bytes"),
    pytest.param(Decimal("1.50"), Decimal("1.50"), id="result-decimal"),
    pytest.param(float("nan"), float("nan"), id="result-nan"),
    pytest.param(float("inf"), float("inf"), id="result-inf"),
    pytest.param(float("-inf"), float("-inf"), id="result-neg-inf"),
    pytest.param(
        {"a": [1, {"b": float("nan")}]}, {"a": [1, {"b": float("nan")}]}, id="result-nested-nan"
    ),
    pytest.param({(1, 2): "tuple key"}, {(1, 2): "tuple key"}, id="result-tuple-dict-key"),
    pytest.param({1: "a", None: "b"}, {1: "a", None: "b"}, id="result-non-str-keys"),
    pytest.param({1: "one", "1": "uno"}, {1: "one", "1": "uno"}, id="result-colliding-keys"),
    # Over the limit as text, well under it compressed: stored (DynamoDB compresses it).
    pytest.param("ab" * 300_000, "ab" * 300_000, id="result-600kb-compressible"),
]


@pytest.mark.parametrize(("value", "replayed"), REPLAYED)
def test_unusual_json_result_replays_exactly(harness: Harness, value: Any, replayed: Any) -> None:
    """Stored as (tagged) JSON text; the duplicate gets what was returned, types and all."""
    body = Body(lambda: value)
    handler = harness.decorate(lambda event: "r", body)

    assert handler({}) is value
    again = handler({})

    assert same_json(again, replayed)
    assert len(body.runs) == 1


@single("result-at-limit-longest-key")
def test_result_at_the_limit_fits_with_the_longest_key(harness: Harness, case_id: str) -> None:
    """A result of exactly RESULT_LIMIT_BYTES under a 2048-byte key fits DynamoDB's 400 KB item."""
    key = "k" * (MAX_KEY_BYTES - ns_len(harness.namespace))
    value = noise(RESULT_LIMIT_BYTES - 2)  # plus its two quotes; it barely compresses
    body = Body(lambda: value)
    handler = harness.decorate(lambda event: key, body, fingerprint=lambda event: "payload")

    assert handler({}) is value
    assert handler({}) == value

    assert len(body.runs) == 1
    record = harness.store.get(f"{harness.namespace}#{key}")
    assert record is not None
    assert record.result is not None
    assert len(record.result.encode()) == RESULT_LIMIT_BYTES


@single("result-deep-replayed-deeper")
def test_a_stored_result_replays_from_a_deeper_stack(memory: Harness, case_id: str) -> None:
    """A result that could be stored can be replayed: a duplicate never hits RecursionError.

    The deepest list that stores from this stack is replayed from 100 frames deeper (a handler
    invoked through more layers, e.g. middleware). Either the store refuses such a result up
    front (UnstorableResultError) or every duplicate gets it back.
    """
    depth = deepest_storable(memory)
    handler = memory.decorate(lambda event: "deep", Body(lambda: nested_list(depth)))
    handler({})

    error = raised(lambda: at_depth(100, lambda: handler({})))

    assert error is None, (
        f"a {depth}-deep result was stored, and its duplicate raised "
        f"{type(error).__name__}: {error!s:.100}"
    )


def deepest_storable(h: Harness) -> int:
    """The deepest nested list the protocol stores when called from here (bisected)."""
    low, high = 0, sys.getrecursionlimit()
    while low < high:
        middle = (low + high + 1) // 2
        if stores(h, middle):
            low = middle
        else:
            high = middle - 1
    return low


def stores(h: Harness, depth: int) -> bool:
    """Whether a ``depth``-deep nested list is stored (rather than refused as unstorable)."""
    probe = h.decorate(lambda event: f"probe-{depth}", Body(lambda: nested_list(depth)))
    return raised(lambda: probe({})) is None


def at_depth(frames: int, call: Callable[[], object]) -> object:
    """``call()`` made ``frames`` Python frames deeper than here."""
    return call() if frames == 0 else at_depth(frames - 1, call)


# -- fingerprints -------------------------------------------------------------------------------

FINGERPRINT_REFUSED = [
    # fingerprint result or failure -> FingerprintError; body not run; nothing claimed.
    pytest.param(lambda e: object(), id="fp-object"),
    pytest.param(lambda e: {"f": print}, id="fp-function"),
    pytest.param(lambda e: 1 + 2j, id="fp-complex"),
    pytest.param(lambda e: {(1, 2): 1}, id="fp-tuple-dict-key"),
    pytest.param(lambda e: float("nan"), id="fp-nan"),
    pytest.param(lambda e: {"amount": float("inf")}, id="fp-inf"),
    pytest.param(lambda e: circular_dict(), id="fp-circular"),
    pytest.param(lambda e: 10**4300, id="fp-int-4301-digits"),
    pytest.param(lambda e: e["missing"], id="fp-keyerror"),
    pytest.param(lambda e: nested_list(100_000), id="fp-nested-100k"),
    pytest.param(lambda e: "x\ud800", id="fp-lone-surrogate"),
]


@pytest.mark.parametrize("fingerprint", FINGERPRINT_REFUSED)
def test_unusable_fingerprint_is_a_fingerprint_error(
    harness: Harness, fingerprint: Callable[[Any], object]
) -> None:
    """FingerprintError before anything is claimed; the body does not run."""
    body = Body(lambda: {"ok": True})
    handler = harness.decorate(lambda event: "f", body, fingerprint=fingerprint)

    error = raised(lambda: handler({}))

    assert_typed(error, FingerprintError, harness)
    assert len(body.runs) == 0
    harness.assert_nothing_claimed()


@single("fp-custom-exception")
def test_fingerprint_custom_exception_propagates_unchanged(harness: Harness, case_id: str) -> None:
    """As for key_fn: an exception other than a lookup/type/value error is re-raised as is.

    (``errors.FingerprintError``'s docstring says "raised or returned a value that is not JSON";
    the code wraps only LookupError, TypeError, AttributeError and ValueError.)
    """
    problem = CustomKeyProblem("fingerprint service down")
    body = Body(lambda: {"ok": True})
    handler = harness.decorate(lambda event: "f", body, fingerprint=raiser(problem))

    assert raised(lambda: handler({})) is problem
    assert len(body.runs) == 0
    harness.assert_nothing_claimed()


@single("fp-non-json-event-types")
def test_fingerprint_accepts_the_types_events_carry(harness: Harness, case_id: str) -> None:
    """Decimal, sets and bytes (what deserialized stream images hold) fingerprint canonically."""
    body = Body(lambda: {"ok": True})
    handler = harness.decorate(
        lambda event: "f",
        body,
        fingerprint=lambda event: {"n": Decimal("12.50"), "s": {"b", "a"}, "b": b"\x00\xff"},
    )

    handler({})
    handler({})

    assert len(body.runs) == 1
    record = harness.store.get(harness.key("f"))
    assert record is not None
    assert record.fingerprint is not None
    assert re.fullmatch("[0-9a-f]{64}", record.fingerprint)


# -- batches ------------------------------------------------------------------------------------


def failed_ids(response: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def statuses(outcome: BatchOutcome) -> list[str]:
    return [o.status.value for o in outcome.records]


@pytest.mark.slow
@single("batch-sqs-10000")
def test_a_10000_message_batch_runs_each_once(
    memory: Harness, case_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Lambda's largest SQS batch: every message runs exactly once; a redelivery runs none."""
    counts: dict[str, int] = {}

    def handle(record: dict[str, Any], context: object) -> int:
        counts[record["messageId"]] = counts.get(record["messageId"], 0) + 1
        return 1

    handler = memory.records_handler(handle)
    event = sqs_event(10_000)

    started = time.perf_counter()
    first = handler(event, None)
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    second = handler.process(copy.deepcopy(event), None)
    second_s = time.perf_counter() - started
    with capsys.disabled():
        print(f"\n[batch-sqs-10000] first delivery {first_s:.2f} s, redelivery {second_s:.2f} s")

    assert first == {"batchItemFailures": []}
    assert len(counts) == 10_000
    assert set(counts.values()) == {1}
    assert set(statuses(second)) == {RecordStatus.DUPLICATE.value}
    assert second.response() == {"batchItemFailures": []}
    assert len(memory.records()) == 10_000
    assert {r.status for r in memory.records()} == {LockStatus.COMPLETED}


def sqs_parsing_handle(record: dict[str, Any], context: object) -> object:
    """A typical SQS body: parse the message and its JSON body."""
    return SqsMessage.from_record(record).json()


def sqs_with(index: int, change: Callable[[dict[str, Any]], object]) -> Event:
    event = sqs_event(5)
    change(event["Records"][index])
    return event


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            sqs_with(2, lambda r: r.__setitem__("body", "{not json")), id="batch-sqs-bad-json-body"
        ),
        pytest.param(
            sqs_with(2, lambda r: r.__setitem__("body", 123)), id="batch-sqs-body-not-string"
        ),
        pytest.param(
            sqs_with(2, lambda r: r.__setitem__("attributes", "x")),
            id="batch-sqs-attributes-not-mapping",
        ),
    ],
)
def test_one_malformed_sqs_message_fails_alone(harness: Harness, event: Event) -> None:
    """The body's EventError fails that message only: reported, released; the rest complete."""
    handler = harness.records_handler(sqs_parsing_handle)

    outcome = handler.process(event, None)

    assert statuses(outcome) == ["completed"] * 2 + ["failed"] + ["completed"] * 2
    assert type(outcome.records[2].error) is EventError
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "m-2"}]}
    assert harness.store.get(harness.key("m-2")) is None
    assert len(harness.records()) == 4


@single("batch-sqs-arn-not-string")
def test_a_message_with_a_malformed_arn_fails_alone(harness: Harness, case_id: str) -> None:
    """``eventSourceARN: 123`` on one message: that message fails (EventError) and is reported;
    the others run and complete; no claim is left behind and no protocol is abandoned.
    """
    event = sqs_with(2, lambda r: r.__setitem__("eventSourceARN", 123))
    handler = harness.records_handler(sqs_parsing_handle)

    outcome: list[BatchOutcome] = []
    error = raised(lambda: outcome.append(handler.process(event, None)))
    left = harness.describe()
    unraisable = collect_unraisable(error)

    assert error is None, (
        f"process() raised {type(error).__name__}: {error}; records: {left}; "
        f"abandoned protocols: {unraisable}"
    )
    assert statuses(outcome[0]) == ["completed"] * 2 + ["failed"] + ["completed"] * 2
    assert type(outcome[0].records[2].error) is EventError
    assert not [r for r in harness.records() if r.status is LockStatus.IN_PROGRESS], left
    assert unraisable == []


def collect_unraisable(error: BaseException | None) -> list[str]:
    """Drop ``error``'s frames and collect garbage; what was "Exception ignored" meanwhile.

    A protocol generator abandoned at its body step reacts to being closed by yielding its
    release ("generator ignored GeneratorExit"). Collected here, so that it is reported by this
    test rather than by whichever test the garbage collector happens to run in.
    """
    seen: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(f"{u.exc_type.__name__}: {u.exc_value}")
    try:
        chained = error
        while chained is not None:  # freeing the frames may finalise the generators at once
            chained.__traceback__ = None
            chained = chained.__context__
        gc.collect()
    finally:
        sys.unraisablehook = previous
    return seen


@single("batch-body-systemexit")
def test_a_batch_body_raising_systemexit_releases_its_claims(
    harness: Harness, case_id: str
) -> None:
    """As in a single call (``body-systemexit``): the SystemExit is re-raised unchanged and the
    claims are released: the raising record's and those of the records that did not run.
    """
    stop = SystemExit(3)

    def handle(record: dict[str, Any], context: object) -> None:
        if record["messageId"] == "m-1":
            raise stop

    handler = harness.records_handler(handle)

    caught: BaseException | None = None
    try:
        handler(sqs_event(4), None)
    except SystemExit as exc:
        caught = exc
    time.sleep(0.2)  # let a complete still in flight land
    left = harness.describe()
    unraisable = collect_unraisable(caught)

    assert caught is stop
    assert [r for r in harness.records() if r.status is LockStatus.IN_PROGRESS] == [], (
        f"claims left: {left}; abandoned protocols: {unraisable}"
    )
    assert [r.key for r in harness.records()] == [harness.key("m-0")]


@pytest.mark.parametrize(
    ("event", "bad"),
    [
        pytest.param(sqs_with(2, lambda r: r.pop("messageId")), 2, id="batch-sqs-no-message-id"),
        pytest.param(
            sqs_with(2, lambda r: r.__setitem__("messageId", 7)), 2, id="batch-sqs-message-id-int"
        ),
    ],
)
def test_a_message_without_an_id_fails_the_whole_batch(
    harness: Harness, event: Event, bad: int
) -> None:
    """It cannot be named in ``batchItemFailures``: process() reports it FAILED (EventError) and
    the rest COMPLETED; the handler raises EventError, so Lambda retries the whole batch, on
    which the completed messages are duplicates.
    """
    handler = harness.records_handler(sqs_parsing_handle)

    outcome = handler.process(copy.deepcopy(event), None)
    assert statuses(outcome) == ["completed"] * 2 + ["failed"] + ["completed"] * 2
    assert type(outcome.records[bad].error) is EventError

    error = raised(lambda: handler(copy.deepcopy(event), None))
    assert_typed(error, EventError, harness)
    assert isinstance(error, EventError)
    assert error.path == "messageId"
    assert len(harness.records()) == 4
    harness.assert_no_permanent_lock()


@single("batch-stream-no-sequence-number")
def test_a_stream_record_without_a_sequence_number(harness: Harness, case_id: str) -> None:
    """Its key cannot be built: FAILED (EventError); the later records are NOT_RUN and released;
    the handler raises EventError (no sequence number to checkpoint), so the batch is retried.
    """
    event = stream_event(5)
    del event["Records"][2]["dynamodb"]["SequenceNumber"]
    handler = harness.records_handler(lambda record, context: "ok")

    outcome = handler.process(copy.deepcopy(event), None)
    assert statuses(outcome) == ["completed"] * 2 + ["failed"] + ["not_run"] * 2
    assert type(outcome.records[2].error) is EventError

    assert_typed(raised(lambda: handler(copy.deepcopy(event), None)), EventError, harness)
    assert [r.status for r in harness.records()] == [LockStatus.COMPLETED] * 2
    harness.assert_no_permanent_lock()


@single("batch-stream-unknown-type-tag")
def test_a_stream_image_with_an_unknown_type_tag(harness: Harness, case_id: str) -> None:
    """``StreamRecord.from_record`` in the body raises EventError: that record FAILED and
    reported by its sequence number; later records NOT_RUN and released; earlier ones completed.
    """
    event = stream_event(5)
    event["Records"][2]["dynamodb"]["NewImage"]["v"] = {"ZZ": "1"}
    handler = harness.records_handler(
        lambda record, context: StreamRecord.from_record(record).event_name
    )

    outcome = handler.process(copy.deepcopy(event), None)

    assert statuses(outcome) == ["completed"] * 2 + ["failed"] + ["not_run"] * 2
    error = outcome.records[2].error
    assert type(error) is EventError
    assert error.path == "dynamodb.NewImage.v"
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": "102"}]}
    assert [r.status for r in harness.records()] == [LockStatus.COMPLETED] * 2


@single("batch-kinesis-no-sequence-number")
def test_a_kinesis_record_without_a_sequence_number_still_runs(
    harness: Harness, case_id: str
) -> None:
    """The key is the eventID: the record runs and completes; the number is needed only to
    report a failure.
    """
    event = kinesis_event(3)
    del event["Records"][1]["kinesis"]["sequenceNumber"]
    handler = harness.records_handler(lambda record, context: "ok")

    assert handler(event, None) == {"batchItemFailures": []}
    assert [r.status for r in harness.records()] == [LockStatus.COMPLETED] * 3


def mixed_sources() -> Event:
    return {"Records": [*sqs_event(2)["Records"], *kinesis_event(1)["Records"]]}


def with_records(records: list[Any]) -> Event:
    return {"Records": records}


BATCH_REFUSED = [
    # event -> EventError at the path, before any claim: nothing runs, nothing is claimed.
    pytest.param(None, "Records", id="batch-event-none"),
    pytest.param("Records", "Records", id="batch-event-str"),
    pytest.param([], "Records", id="batch-event-list"),
    pytest.param({}, "Records", id="batch-missing-records"),
    pytest.param({"Records": []}, "Records", id="batch-empty-records"),
    pytest.param({"Records": {"a": 1}}, "Records", id="batch-records-not-list"),
    pytest.param(mixed_sources(), "Records[2].eventSource", id="batch-mixed-sources"),
    pytest.param(
        with_records([sqs_event(1)["Records"][0], "x"]), "Records[1]", id="batch-record-not-dict"
    ),
    pytest.param(
        sqs_with(3, lambda r: r.pop("eventSource")),
        "Records[3].eventSource",
        id="batch-record-no-event-source",
    ),
    pytest.param(
        with_records([{"eventSource": "aws:sns"}]), "eventSource", id="batch-unknown-source"
    ),
]


@pytest.mark.parametrize(("event", "path"), BATCH_REFUSED)
def test_malformed_batch_is_refused_whole(harness: Harness, event: object, path: str) -> None:
    """A batch whose records cannot all be identified is refused whole (Lambda retries it)."""
    runs: list[object] = []
    handler = harness.records_handler(lambda record, context: runs.append(record))

    error = raised(lambda: handler(copy.deepcopy(event), None))  # type: ignore[arg-type]

    assert_typed(error, EventError, harness)
    assert isinstance(error, EventError)
    assert error.path == path
    assert runs == []
    harness.assert_nothing_claimed()


@single("batch-same-key-twice")
def test_one_key_twice_in_a_batch_runs_once(harness: Harness, case_id: str) -> None:
    """Two messages with one key (here the same messageId): the body runs once, for the first
    copy; the later copy is a DUPLICATE of it, with its result.
    """
    event = sqs_event(4)
    event["Records"][3]["messageId"] = "m-1"
    runs: list[str] = []
    handler = harness.records_handler(lambda record, context: runs.append(record["messageId"]))

    outcome = handler.process(event, None)

    assert runs.count("m-1") == 1
    assert outcome.records[1].status is RecordStatus.COMPLETED
    copy_of_m1 = outcome.records[3]
    assert copy_of_m1.status is RecordStatus.DUPLICATE
    assert copy_of_m1.result == outcome.records[1].result
    harness.assert_no_permanent_lock()


@pytest.mark.parametrize(
    ("bad_key", "error_type"),
    [
        pytest.param("%E3%83", EventError, id="batch-s3-undecodable-key"),
        pytest.param("bad-\ud800", EventError, id="batch-s3-lone-surrogate-key"),
    ],
)
def test_one_bad_object_in_an_s3_batch(
    harness: Harness, bad_key: str, error_type: type[Exception]
) -> None:
    """Every object is tried; BatchFailedError lists only the bad one (a typed error)."""
    runs: list[str] = []
    handler = harness.records_handler(
        lambda record, context: runs.append(s3.S3Object.from_record(record).key)
    )

    error = raised(lambda: handler(s3_event("a.csv", bad_key, "c.csv", bucket=BUCKET), None))

    assert_typed(error, BatchFailedError, harness)
    assert isinstance(error, BatchFailedError)
    assert statuses(error.outcome) == ["completed", "failed", "completed"]
    failed = error.outcome.records[1].error
    assert type(failed) is error_type, f"{type(failed).__name__}: {failed}"
    assert runs == ["a.csv", "c.csv"]
    harness.assert_no_permanent_lock()


# -- DynamoDB reserved words as attribute names -------------------------------------------------

RESERVED = AttributeNames(
    key="name",
    status="status",
    owner="owner",
    fence="count",
    attempts="size",
    claimed_at_ms="time",
    lease_expires_at_ms="date",
    expires_at_s="ttl",
    completed_at_ms="value",
    result="data",
    fingerprint="hash",
)


@pytest.fixture(scope="module")
def reserved_store(dynamodb_local: str) -> DynamoDBStore:
    store = DynamoDBStore(
        f"reserved-{uuid.uuid4().hex[:12]}",
        client=make_client(dynamodb_local),
        attributes=RESERVED,
    )
    store.create_table()
    return store


@single("dynamodb-reserved-attribute-names")
def test_every_attribute_named_by_a_reserved_word(
    reserved_store: DynamoDBStore, clock: ManualClock, namespace: str, case_id: str
) -> None:
    """First call, duplicate, failure, in-progress duplicate, payload mismatch and takeover all
    work when every attribute is a DynamoDB reserved word (name, status, data, size, ...).
    """
    h = Harness(reserved_store, clock, namespace)
    ttl = reserved_store.client.describe_time_to_live(TableName=reserved_store.table_name)
    assert ttl["TimeToLiveDescription"].get("AttributeName") == "ttl"

    check_first_and_duplicate(h)
    check_failure_releases(h)
    check_in_progress_duplicate(h)
    check_takeover_after_the_lease(h)
    h.assert_no_permanent_lock()
    item = reserved_store.client.get_item(
        TableName=reserved_store.table_name, Key={"name": {"S": h.key("first")}}
    )["Item"]
    assert set(item) == {"name", "status", "owner", "count", "size", "time", "ttl", "value"} | {
        "data",
        "hash",
    }


def check_first_and_duplicate(h: Harness) -> None:
    body = Body(lambda: {"charged": 12})
    handler = h.decorate(lambda event: event["id"], body, fingerprint=lambda event: event)
    assert handler({"id": "first"}) == {"charged": 12}
    assert handler({"id": "first"}) == {"charged": 12}
    assert len(body.runs) == 1
    assert_typed(raised(lambda: handler({"id": "first", "x": 1})), PayloadMismatchError, h)
    record = h.store.get(h.key("first"))
    assert record is not None
    assert (record.status, record.result) == (LockStatus.COMPLETED, '{"charged":12}')
    assert record.fingerprint is not None
    assert [r.key for r in h.store.scan(prefix=h.key("first"))] == [h.key("first")]


def check_failure_releases(h: Harness) -> None:
    problem = BodyFailed("boom")

    def fail() -> object:
        raise problem

    handler = h.decorate(lambda event: "failing", Body(fail))
    assert raised(lambda: handler({})) is problem
    assert h.store.get(h.key("failing")) is None


def check_in_progress_duplicate(h: Harness) -> None:
    inner: list[Exception | None] = []
    handler: Callable[..., Any]

    def body() -> str:
        inner.append(raised(lambda: handler({})))
        return "outer"

    handler = h.decorate(lambda event: "busy", Body(body))
    assert handler({}) == "outer"
    assert len(inner) == 1
    assert_typed(inner[0], InProgressError, h)


def check_takeover_after_the_lease(h: Harness) -> None:
    now_ms = int(h.clock() * 1000)
    stale = Claim(
        key=h.key("stale"),
        owner="crashed",
        now_ms=now_ms,
        fence_base=now_ms * 1000,
        lease_expires_at_ms=now_ms + 1000,
        expires_at_s=now_ms // 1000 + 3600,
    )
    before = h.store.claim(stale).item
    assert before is not None
    handler = h.decorate(lambda event: "stale", Body(lambda: "taken over"))
    assert_typed(raised(lambda: handler({})), InProgressError, h)
    h.clock.advance(2)
    assert handler({}) == "taken over"
    after = h.store.get(h.key("stale"))
    assert after is not None
    assert (after.status, after.fence, after.attempts) == (
        LockStatus.COMPLETED,
        before.fence + 1,
        2,
    )


# -- the documentation table --------------------------------------------------------------------


def case_ids() -> list[str]:
    """Every case id of this module: the ids of its parametrised tests, in source order."""
    ids: list[str] = []
    for name, function in list(globals().items()):
        if not name.startswith("test_"):
            continue
        for mark in getattr(function, "pytestmark", []):
            if mark.name != "parametrize":
                continue
            for value in mark.args[1]:
                ids.append(value if isinstance(value, str) else value.id)
    return ids


def doc_ids(path: Path) -> list[str]:
    """The first column of every table row of the document, header rows excluded."""
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("id", "") or set(cells[0]) <= set("-: "):
            continue
        ids.append(cells[0].strip("`"))
    return ids


def test_doc_table_lists_every_case() -> None:
    """docs/bad-input.md has one row per case id, and no row without a case."""
    in_tests, in_doc = case_ids(), doc_ids(DOC)
    assert len(in_tests) == len(set(in_tests)), "a case id is used twice"
    assert len(in_doc) == len(set(in_doc)), "a row id is listed twice"
    assert sorted(set(in_doc) - set(in_tests)) == [], "rows without a test"
    assert sorted(set(in_tests) - set(in_doc)) == [], "tests without a row"
