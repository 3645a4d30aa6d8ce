"""The keyword options: typed once, checked once at decoration time, into one ``Policy``.

Each entry point takes the shared :class:`Options` and its own few; a bad value is a
``ConfigurationError`` naming the option, an option the entry point does not take a
``TypeError``, before any call.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from idemlock import StreamDispatcher, current_lock, idempotent, idempotent_records
from idemlock._options import IdempotentOptions, Options, RecordsOptions, validate
from idemlock.errors import ConfigurationError
from idemlock.testing import ManualClock, MemoryStore


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lease": -1}, "lease must be a positive"),
        ({"lease": 0}, "lease must be a positive"),
        ({"lease": "60"}, "lease must be seconds"),
        ({"retention": timedelta(0)}, "retention must be a positive"),
        ({"retention": float("inf")}, "retention must be a positive"),
        ({"local_cache": -1}, "local_cache"),
        ({"local_cache": True}, "local_cache"),
        ({"namespace": ""}, "namespace"),
        ({"fingerprint": "amount"}, "fingerprint must be callable"),
        ({"on_unstorable_result": "ignore"}, "on_unstorable_result"),
        ({"on_missing_key": "skip"}, "on_missing_key"),
    ],
)
def test_invalid_options_are_configuration_errors(options: dict[str, Any], message: str) -> None:
    """Each bad option fails at decoration time with a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=message):
        idempotent(lambda e: e, store=MemoryStore(), **options)


def test_key_fn_must_be_callable() -> None:
    """Passing a string as key_fn (a common slip from JMESPath-style APIs) is refused."""
    with pytest.raises(ConfigurationError, match="key_fn must be callable"):
        idempotent("order_id", store=MemoryStore())  # type: ignore[arg-type]


def test_lease_and_retention_accept_seconds_or_timedelta() -> None:
    """lease=90 and lease=timedelta(seconds=90) give the same lease."""
    clock = ManualClock()
    leases: list[int] = []
    for lease in (90, 90.0, timedelta(seconds=90)):
        store = MemoryStore()

        @idempotent(lambda key: key, store=store, lease=lease, clock=clock)
        def body(key: str) -> None:
            lock = current_lock()
            assert lock is not None
            leases.append(lock.lease_expires_at_ms)

        body("k")
    assert len(set(leases)) == 1
    assert leases[0] == int(clock() * 1000) + 90_000


def test_local_cache_ttl_is_validated() -> None:
    """local_cache_ttl is a positive duration."""
    with pytest.raises(ConfigurationError, match="local_cache_ttl"):
        idempotent(lambda: "k", local_cache=1, local_cache_ttl=0)


@pytest.mark.parametrize(
    ("decorate", "option"),
    [
        # Each is a mypy error too: the ignores below would be unused, and fail, otherwise.
        (lambda: idempotent(str, concurrency=4), "concurrency"),  # type: ignore[call-arg]
        (lambda: idempotent(str, leese=4), "leese"),  # type: ignore[call-arg]
        (lambda: idempotent_records(on_missing_key="run"), "on_missing_key"),  # type: ignore[call-arg]
        (lambda: idempotent_records(fingerprint=str), "fingerprint"),  # type: ignore[call-arg]
        (lambda: StreamDispatcher(retentoin=1), "retentoin"),  # type: ignore[call-arg]
    ],
)
def test_an_option_the_entry_point_does_not_take_is_a_type_error(
    decorate: Any, option: str
) -> None:
    """An unknown (or another entry point's) option fails when decorating, naming it, as an
    unexpected keyword argument does."""
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{option}'"):
        decorate()


def test_each_option_is_typed_once() -> None:
    """The entry points' own options extend the shared ones without repeating any."""
    shared = set(Options.__annotations__)
    assert set(IdempotentOptions.__annotations__) - shared == {"fingerprint", "on_missing_key"}
    assert set(RecordsOptions.__annotations__) - shared == {"concurrency"}
    assert "lease" in shared
    assert "heartbeat" in shared


def test_the_options_become_one_policy_with_their_defaults() -> None:
    """Nothing given: 24 h retention, no lease (5 minutes outside Lambda), results stored, 32
    store calls in flight for a batch; the namespace is set when the function is known."""
    policy = validate("@idempotent", str, {})
    assert (policy.retention_ms, policy.lease_ms, policy.default_lease_ms) == (
        86_400_000,
        None,
        300_000,
    )
    assert (policy.store_result, policy.omit_unstorable, policy.concurrency) == (True, False, 32)
    assert (policy.store, policy.namespace, policy.cache, policy.heartbeat_ms) == (
        None,
        "",
        None,
        None,
    )
    assert policy.on_missing_key == "raise"


def test_a_dispatchers_namespace_defaults_to_its_name() -> None:
    """StreamDispatcher keys its records under "StreamDispatcher" unless told otherwise."""
    store = MemoryStore()
    dispatcher = StreamDispatcher(store=store)
    seen: list[str] = []
    dispatcher.on_insert.append(lambda record: seen.append(record.sequence_key))
    event = {
        "Records": [
            {
                "eventSource": "aws:dynamodb",
                "eventSourceARN": "arn:aws:dynamodb:eu-west-1:1:table/t/stream/s",
                "eventName": "INSERT",
                "dynamodb": {"Keys": {"id": {"S": "1"}}, "SequenceNumber": "7"},
            }
        ]
    }
    assert dispatcher.dispatch(event, None) == {"batchItemFailures": []}
    assert len(seen) == 1
    assert [item.key.split("#")[0] for item in store.scan()] == ["StreamDispatcher"]


def test_on_lease_expired_and_wait_become_policy_fields() -> None:
    """Default: take over a lapsed lease, no waiting; given: "refuse" and the wait in ms."""
    default = validate("@idempotent", str, {})
    given = validate("@idempotent_records", None, {"on_lease_expired": "refuse", "wait": 2.5})
    assert (default.on_lease_expired, default.wait_ms) == ("take_over", None)
    assert (given.on_lease_expired, given.wait_ms) == ("refuse", 2500)
