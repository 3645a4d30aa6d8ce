"""``@idempotent`` itself: signatures, async, methods, the off switch, options, local cache.

These run on MemoryStore: they are about the decorator, not the store (the contract suite covers
every store).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import pytest
import wrapt
from typing_extensions import assert_type

from idemlock import current_lock, idempotent, idempotent_records
from idemlock.errors import ConfigurationError, InvalidKeyError, MissingKeyError
from idemlock.item import LockItem
from idemlock.store import Claim, ClaimResult
from idemlock.testing import ManualClock, MemoryStore


def test_signature_name_and_docstring_are_kept() -> None:
    """inspect sees the wrapped function's own signature, name and docstring."""

    @idempotent(lambda event, context=None: event["id"], store=MemoryStore())
    def handler(event: dict[str, Any], context: object = None) -> dict[str, int]:
        """Charge an order."""
        return {"charged": 1}

    assert str(inspect.signature(handler)) == (
        "(event: 'dict[str, Any]', context: 'object' = None) -> 'dict[str, int]'"
    )
    assert handler.__name__ == "handler"
    assert handler.__doc__ == "Charge an order."
    assert_type(handler({"id": "x"}), dict[str, int])


def test_mypy_sees_the_wrapped_parameters() -> None:
    """A wrong call is a mypy error (the ignore below would be unused, and fail, otherwise)."""

    @idempotent(lambda order_id: order_id, store=MemoryStore())
    def charge(order_id: str) -> int:
        return len(order_id)

    with pytest.raises(TypeError):
        charge("a", "b")  # type: ignore[call-arg]


def test_async_functions_are_idempotent_with_store_calls_off_the_loop() -> None:
    """An async def stays a coroutine function; store calls run outside the event loop thread."""
    store = ThreadRecordingStore()
    runs: list[str] = []

    @idempotent(lambda order_id: order_id, store=store)
    async def charge(order_id: str) -> str:
        await asyncio.sleep(0)
        lock = current_lock()
        assert lock is not None
        runs.append(order_id)
        return f"charged {order_id}"

    async def main() -> tuple[str, str, int]:
        first = await charge("a")
        second = await charge("a")
        return first, second, threading.get_ident()

    assert inspect.iscoroutinefunction(charge)
    first, second, loop_thread = asyncio.run(main())

    assert (first, second) == ("charged a", "charged a")
    assert runs == ["a"]
    assert store.threads
    assert loop_thread not in store.threads


def test_async_failure_releases_and_reraises() -> None:
    """An async body's exception is re-raised unchanged and the key is free again."""
    store = MemoryStore()
    failure = RuntimeError("async failure")

    @idempotent(lambda order_id: order_id, store=store, namespace="ns")
    async def charge(order_id: str) -> None:
        raise failure

    with pytest.raises(RuntimeError) as caught:
        asyncio.run(charge("a"))
    assert caught.value is failure
    assert store.get("ns#a") is None


def test_methods_get_self_in_the_key_function() -> None:
    """On a method, key_fn receives the method's own arguments, self first."""
    store = MemoryStore()

    class Orders:
        def __init__(self, tenant: str) -> None:
            self.tenant = tenant
            self.charged: list[str] = []

        @idempotent(lambda self, order_id: f"{self.tenant}/{order_id}", store=store, namespace="o")
        def charge(self, order_id: str) -> str:
            self.charged.append(order_id)
            return order_id

    acme, globex = Orders("acme"), Orders("globex")
    acme.charge("1")
    acme.charge("1")
    globex.charge("1")

    assert acme.charged == ["1"]
    assert globex.charged == ["1"]
    assert {record.key for record in store.scan()} == {"o#acme/1", "o#globex/1"}


def test_class_and_static_methods_keep_binding_when_decorated_above() -> None:
    """@idempotent written above @classmethod/@staticmethod protects them and keeps the binding:
    key_fn gets ``cls`` first on a classmethod, and the call works on the class and instances."""
    store = MemoryStore()
    runs: list[str] = []

    class Jobs:
        prefix = "jobs"

        @idempotent(lambda cls, job_id: f"{cls.prefix}/{job_id}", store=store, namespace="c")
        @classmethod
        def run(cls, job_id: str) -> str:
            runs.append(f"class {job_id}")
            return f"{cls.prefix}:{job_id}"

        @idempotent(lambda job_id: job_id, store=store, namespace="s")
        @staticmethod
        def run_static(job_id: str) -> str:
            runs.append(f"static {job_id}")
            return job_id.upper()

    assert Jobs.run("1") == "jobs:1"
    assert Jobs().run("1") == "jobs:1"
    assert Jobs.run_static("a") == "A"
    assert Jobs().run_static("a") == "A"
    assert runs == ["class 1", "static a"]
    assert {record.key for record in store.scan()} == {"c#jobs/1", "s#a"}


def _proxy_base() -> type:
    """What every wrapt proxy is: ``BaseObjectProxy`` in wrapt 2 (``ObjectProxy`` in wrapt 1)."""
    return getattr(wrapt, "BaseObjectProxy", wrapt.ObjectProxy)


def test_decorated_functions_are_wrapt_proxies() -> None:
    """@idempotent gives a wrapt proxy of the function, sync or async, with ``__wrapped__``."""
    store = MemoryStore()

    def handler(event: dict[str, Any]) -> int:
        return 1

    async def async_handler(event: dict[str, Any]) -> int:
        return 1

    for function in (handler, async_handler):
        decorated = idempotent(lambda event: event["id"], store=store)(function)
        assert isinstance(decorated, _proxy_base())
        assert isinstance(decorated, wrapt.ObjectProxy)  # in wrapt 2 as in wrapt 1
        assert inspect.unwrap(decorated) is function  # through __wrapped__
    assert inspect.iscoroutinefunction(idempotent(lambda e: e["id"], store=store)(async_handler))


def test_records_handlers_are_wrapt_proxies_with_process() -> None:
    """@idempotent_records gives a proxy of ``handle`` that is called ``(event, context)`` and
    has ``.process``."""

    def handle(record: dict[str, Any], context: object) -> None:
        """Handle one message."""

    handler = idempotent_records(store=MemoryStore())(handle)
    event = {"Records": [{"eventSource": "aws:sqs", "messageId": "m1", "body": "{}"}]}
    assert isinstance(handler, _proxy_base())
    assert isinstance(handler, wrapt.ObjectProxy)
    assert inspect.unwrap(handler) is handle
    assert handler.__doc__ == "Handle one message."
    assert handler(event, None) == {"batchItemFailures": []}
    assert [outcome.status.value for outcome in handler.process(event).records] == ["duplicate"]


def test_methods_bind_as_written_on_instances_classes_and_callables() -> None:
    """A decorated method called on an instance or through its class gets ``self`` first in
    key_fn; a decorated callable object keeps working; classmethods decorated *below*
    @classmethod bind too."""
    store = MemoryStore()
    runs: list[str] = []

    class Orders:
        @idempotent(lambda self, order_id: order_id, store=store, namespace="m")
        def charge(self, order_id: str) -> str:
            runs.append(f"charge {order_id}")
            return order_id

        @classmethod
        @idempotent(lambda cls, order_id: f"{cls.__name__}/{order_id}", store=store, namespace="c")
        def refund(cls, order_id: str) -> str:
            runs.append(f"refund {order_id}")
            return order_id

    class Counter:
        def __call__(self, order_id: str) -> str:
            runs.append(f"call {order_id}")
            return order_id

    counted = idempotent(lambda order_id: order_id, store=store, namespace="k")(Counter())
    orders = Orders()
    assert orders.charge("1") == "1"
    assert Orders.charge(orders, "1") == "1"  # through the class: self passed explicitly
    assert Orders.refund("2") == orders.refund("2") == "2"
    assert counted("3") == counted("3") == "3"
    assert runs == ["charge 1", "refund 2", "call 3"]
    assert {record.key for record in store.scan()} == {"m#1", "c#Orders/2", "k#3"}
    assert str(inspect.signature(Orders.charge)) == "(self, order_id: 'str') -> 'str'"


def test_a_bound_method_decorated_as_it_is_gets_its_own_arguments() -> None:
    """``idempotent(key_fn)(obj.method)`` wraps a callable whose own arguments have no ``self``
    (it is bound already): key_fn receives exactly those, sync and async, as for any callable."""
    store = MemoryStore()
    runs: list[str] = []

    class Orders:
        def charge(self, order_id: str) -> str:
            runs.append(order_id)
            return order_id

        async def refund(self, order_id: str) -> str:
            runs.append(f"refund {order_id}")
            return order_id

    orders = Orders()
    charge = idempotent(lambda order_id: order_id, store=store, namespace="b")(orders.charge)
    refund = idempotent(lambda order_id: order_id, store=store, namespace="r")(orders.refund)

    assert charge("1") == charge("1") == "1"
    assert asyncio.run(refund("2")) == asyncio.run(refund("2")) == "2"
    assert runs == ["1", "refund 2"]
    assert {record.key for record in store.scan()} == {"b#1", "r#2"}


def test_keyword_arguments_reach_the_key_function() -> None:
    """key_fn is called with the same positional and keyword arguments as the function."""
    store = MemoryStore()

    @idempotent(lambda *, order_id, amount: order_id, store=store, namespace="kw")
    def charge(*, order_id: str, amount: int) -> int:
        return amount

    assert charge(order_id="o-1", amount=5) == 5
    assert charge(order_id="o-1", amount=7) == 5


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_idempotency_can_be_switched_off(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """disabled=True or IDEMLOCK_DISABLED=1 runs the body every time and never calls the store."""
    store = MemoryStore()
    runs: list[str] = []
    disabled: bool | None = None
    if how == "argument":
        disabled = True
    else:
        monkeypatch.setenv("IDEMLOCK_DISABLED", "1")

    @idempotent(lambda key: key, store=store, disabled=disabled)
    def body(key: str) -> None:
        runs.append(key)

    body("a")
    body("a")
    assert runs == ["a", "a"]
    assert store.calls.total() == 0


def test_environment_switch_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """IDEMLOCK_DISABLED set after decoration still applies; "0" keeps idempotency on."""
    store = MemoryStore()
    runs: list[str] = []

    @idempotent(lambda key: key, store=store)
    def body(key: str) -> None:
        runs.append(key)

    monkeypatch.setenv("IDEMLOCK_DISABLED", "0")
    body("a")
    body("a")
    monkeypatch.setenv("IDEMLOCK_DISABLED", "true")
    body("a")
    assert runs == ["a", "a"]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({}, MissingKeyError),
        ({"id": None}, MissingKeyError),
        ({"id": ""}, MissingKeyError),
        ({"id": {"nested": 1}}, InvalidKeyError),
        ({"id": 1.5}, InvalidKeyError),
    ],
)
def test_bad_keys_raise_typed_errors_before_anything_runs(
    event: dict[str, Any], error: type[Exception]
) -> None:
    """A missing or unusable key is a typed error; nothing is claimed, the body does not run."""
    store = MemoryStore()
    runs: list[object] = []
    handler = idempotent(lambda e: e["id"], store=store)(runs.append)

    with pytest.raises(error):
        handler(event)
    assert runs == []
    assert store.calls.total() == 0


def test_missing_key_can_run_unprotected_when_configured() -> None:
    """on_missing_key="run" runs the body without a lock when key_fn finds no key."""
    store = MemoryStore()
    runs: list[object] = []
    handler = idempotent(lambda e: e.get("id"), store=store, on_missing_key="run")(runs.append)

    handler({})
    handler({})
    assert len(runs) == 2
    assert store.calls.total() == 0


def test_key_fn_with_other_parameters_is_a_configuration_error() -> None:
    """A key_fn that cannot take the function's arguments is a ConfigurationError, not a
    MissingKeyError: the event is fine, the code is not."""
    handler = idempotent(lambda event: event["id"], store=MemoryStore())(lambda event, ctx: None)

    with pytest.raises(ConfigurationError, match="same parameters"):
        handler({"id": "k"}, None)


def test_local_cache_answers_warm_duplicates_without_a_call() -> None:
    """With local_cache, a duplicate in the same process costs 0 store calls."""
    store = MemoryStore()
    handler = idempotent(lambda key: key, store=store, local_cache=16)(lambda key: f"r-{key}")

    handler("a")
    store.calls.clear()
    assert handler("a") == "r-a"
    assert store.calls.total() == 0


def test_local_cache_is_bounded_and_respects_retention() -> None:
    """Evicted keys and keys past retention go back to the store."""
    store = MemoryStore()
    clock = ManualClock()
    handler = idempotent(lambda key: key, store=store, local_cache=2, clock=clock, retention=60)(
        lambda key: key
    )
    for key in ("a", "b", "c"):  # "a" is evicted by "c"
        handler(key)
    store.calls.clear()

    handler("c")
    assert store.calls.total() == 0
    handler("a")
    assert store.calls.total() == 1
    clock.advance(61)
    handler("c")  # retention over: not served from the cache; it runs again (claim, complete)
    assert store.calls.total() == 3


def test_local_cache_remembers_replays_from_the_store() -> None:
    """A duplicate answered by the store is cached for the next one."""
    store = MemoryStore()
    first = idempotent(lambda key: key, store=store, namespace="ns")(lambda key: "one")
    second = idempotent(lambda key: key, store=store, namespace="ns", local_cache=4)(
        lambda key: "two"
    )
    first("k")
    assert second("k") == "one"
    store.calls.clear()
    assert second("k") == "one"
    assert store.calls.total() == 0


def test_store_result_false_replays_none() -> None:
    """store_result=False keeps only the status: duplicates are suppressed and return None."""
    store = MemoryStore()
    handler = idempotent(lambda key: key, store=store, namespace="ns", store_result=False)(
        lambda key: "big result"
    )
    assert handler("k") == "big result"
    assert handler("k") is None
    record = store.get("ns#k")
    assert record is not None
    assert record.result is None


def test_default_namespace_is_the_function_identity() -> None:
    """Without namespace=, keys are prefixed with the function's module and qualified name."""
    store = MemoryStore()

    @idempotent(lambda key: key, store=store)
    def process(key: str) -> None:
        pass

    process("k")
    [record] = store.scan()
    assert record.key == f"{__name__}.{process.__qualname__}#k"


class ThreadRecordingStore(MemoryStore):
    """A MemoryStore that notes which threads its claims and completes run on."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def claim(self, claim: Claim) -> ClaimResult:
        self.threads.add(threading.get_ident())
        return super().claim(claim)

    def complete(
        self, key: str, owner: str, *, now_ms: int, result: str | None, expires_at_s: int | None
    ) -> bool:
        self.threads.add(threading.get_ident())
        return super().complete(key, owner, now_ms=now_ms, result=result, expires_at_s=expires_at_s)

    def get(self, key: str) -> LockItem | None:
        self.threads.add(threading.get_ident())
        return super().get(key)


def test_calling_with_arguments_the_function_does_not_take_is_a_type_error() -> None:
    """The caller's mistake surfaces as the function's own TypeError, naming the parameter."""
    store = MemoryStore()

    @idempotent(lambda event, context: event["id"], store=store)
    def handler(event: dict[str, Any], context: object) -> None:
        pass

    with pytest.raises(TypeError, match=r"handler.*'context'"):
        handler({"id": "k"})  # type: ignore[call-arg]
    assert store.calls.total() == 0


def test_local_cache_does_not_hide_a_payload_mismatch() -> None:
    """With a fingerprint, a cached key with another payload still raises PayloadMismatchError."""
    from idemlock.errors import PayloadMismatchError  # noqa: PLC0415

    store = MemoryStore()
    handler = idempotent(
        lambda order: order["id"],
        store=store,
        local_cache=8,
        fingerprint=lambda order: order["amount"],
    )(lambda order: order["amount"])

    assert handler({"id": "o", "amount": 5}) == 5
    assert handler({"id": "o", "amount": 5}) == 5
    with pytest.raises(PayloadMismatchError):
        handler({"id": "o", "amount": 6})
