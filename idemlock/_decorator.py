"""``@idempotent``: the decorator that puts a function behind the lock protocol."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, cast

from idemlock._drivers import drive_async, drive_sync
from idemlock._options import (
    DEFAULT_LOCAL_CACHE_TTL,
    DEFAULT_RETENTION,
    Duration,
    default_store,
    is_disabled,
    validate,
)
from idemlock._protocol import claim_steps
from idemlock._proxy import FunctionProxy
from idemlock._steps import Steps
from idemlock.errors import ConfigurationError, MissingKeyError
from idemlock.keys import call_key_fn, default_namespace, payload_fingerprint, storage_key
from idemlock.lock import Lock, new_owner_token
from idemlock.store import LockStore

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from idemlock._options import RecordsOptions
    from idemlock.batch import RecordsHandler
    from idemlock.events import EventSink

P = ParamSpec("P")
R = TypeVar("R")


def idempotent(
    key_fn: Callable[..., object],
    *,
    store: LockStore | None = None,
    namespace: str | None = None,
    lease: Duration | None = None,
    retention: Duration | None = DEFAULT_RETENTION,
    fingerprint: Callable[..., object] | None = None,
    clock: Callable[[], float] = time.time,
    local_cache: int = 0,
    local_cache_ttl: Duration = DEFAULT_LOCAL_CACHE_TTL,
    store_result: bool = True,
    on_unstorable_result: Literal["raise", "omit"] = "raise",
    on_missing_key: Literal["raise", "run"] = "raise",
    disabled: bool | None = None,
    on_event: EventSink | None = None,
    heartbeat: bool | Duration = False,
    on_lock_lost: Callable[[Lock], object] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function at most once to completion per key.

    Args:
        key_fn: called with the decorated function's own arguments (``self`` first for a
            method); returns the idempotency key, a non-empty ``str``.
        store: where locks live; default ``DynamoDBStore(os.environ["IDEMLOCK_TABLE"])``,
            made on first call.
        namespace: prefix of every stored key (``namespace#key``); default: the function's
            module and qualified name. Set it in production, so a refactoring keeps the keys.
        lease: how long a claim blocks others before it may be taken over; default: a Lambda
            context's remaining time plus 2 s when one is passed, else 5 minutes.
        retention: how long a completed key returns its stored result instead of running
            (``None``: forever); default 24 hours.
        fingerprint: called with the function's arguments, returns a JSON value whose hash is
            stored; the same key with a different fingerprint raises ``PayloadMismatchError``.
        clock: returns the time in epoch seconds (``time.time``); inject one in tests.
        local_cache: keep up to this many completed keys in memory, answering duplicates in a
            warm container without a call; 0 (the default) disables it.
        local_cache_ttl: how long a cached key is trusted (default 5 minutes, never past its
            retention): an operator's ``idemlock release`` reaches warm containers within it.
        store_result: store the return value for duplicates (``False``: they return ``None``).
        on_unstorable_result: a result that is not JSON or too large either raises
            ``UnstorableResultError`` after releasing the key ("raise"), or completes the key
            without storing it ("omit").
        on_missing_key: "raise" ``MissingKeyError`` when ``key_fn`` finds no key, or "run" the
            body unprotected.
        disabled: ``True`` runs the function directly; ``None`` (default) reads
            ``IDEMLOCK_DISABLED`` (``1``/``true``) at each call.
        on_event: called with a :class:`~idemlock.events.LockEvent` at every transition
            (claimed, duplicate, completed, released, taken_over, lock_lost, store_error, ...);
            e.g. :class:`idemlock.metrics.CloudWatchMetrics`. The same transitions are logged on
            the ``idemlock`` logger either way.
        heartbeat: ``True`` extends the lease every third of it while the body runs (a daemon
            thread beside a sync body, a task beside an async one), a duration sets the period;
            so a short ``lease=`` bounds crash recovery without bounding the body. Inside Lambda
            it never extends past the invocation's deadline.
        on_lock_lost: called with the :class:`~idemlock.Lock` when an extension or the complete
            finds another invocation holding the key (``current_lock().lost`` turns true too).

    """
    options = validate(
        key_fn=key_fn,
        store=store,
        namespace=namespace,
        lease=lease,
        retention=retention,
        fingerprint=fingerprint,
        clock=clock,
        local_cache=local_cache,
        local_cache_ttl=local_cache_ttl,
        store_result=store_result,
        on_unstorable_result=on_unstorable_result,
        on_missing_key=on_missing_key,
        disabled=disabled,
        on_event=on_event,
        heartbeat=heartbeat,
        on_lock_lost=on_lock_lost,
        require_key_fn=True,
    )
    policy = options.policy

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        # Above @classmethod/@staticmethod, the function inside names and keys the calls; wrapt
        # binds the descriptor as written (key_fn gets `cls` first on a classmethod).
        inner = function.__func__ if isinstance(function, (classmethod, staticmethod)) else function
        if not callable(inner):
            raise ConfigurationError(f"@idempotent decorates a callable, got {function!r}")
        refuse_generator_function("@idempotent", inner)
        prefix = namespace or default_namespace(inner)
        # A method bound already (`obj.method` decorated as it is) is called without its `self`,
        # though wrapt hands that `self` over as the instance: its own arguments are the call's.
        bound = inspect.ismethod(inner)

        def steps(own_args: tuple[Any, ...], kwargs: dict[str, Any]) -> Steps | None:
            """The claim steps of one call, or ``None`` when the body should run unprotected.

            ``own_args`` are the arguments as the function itself receives them: ``self`` or
            ``cls`` first for a method.
            """
            if is_disabled(disabled):
                return None
            try:
                key = call_key_fn(key_fn, inner, own_args, kwargs)
            except MissingKeyError:
                if on_missing_key == "run":
                    return None
                raise
            lease_ms, budget_ms = policy.leases_for(own_args, kwargs)
            return claim_steps(
                store if store is not None else default_store(),
                policy,
                key=storage_key(prefix, key),
                namespace=prefix,
                owner=new_owner_token(),
                lease_ms=lease_ms,
                budget_ms=budget_ms,
                fingerprint=(
                    None
                    if fingerprint is None
                    else payload_fingerprint(fingerprint, own_args, kwargs)
                ),
            )

        if inspect.iscoroutinefunction(inner):

            async def call_async(
                wrapped: Callable[..., Any],
                own_args: tuple[Any, ...],
                args: tuple[Any, ...],
                kwargs: dict[str, Any],
            ) -> Any:
                run = steps(own_args, kwargs)  # at the await, as the function's own code runs
                if run is None:
                    return await wrapped(*args, **kwargs)
                return await drive_async(run, lambda: wrapped(*args, **kwargs))

            def async_wrapper(
                wrapped: Callable[..., Any],
                instance: object,
                args: tuple[Any, ...],
                kwargs: dict[str, Any],
            ) -> Any:
                own_args = args if instance is None or bound else (instance, *args)
                return call_async(wrapped, own_args, args, kwargs)

            return cast(Callable[P, R], FunctionProxy(function, async_wrapper))

        def wrapper(
            wrapped: Callable[..., Any],
            instance: object,
            args: tuple[Any, ...],
            kwargs: dict[str, Any],
        ) -> Any:
            # wrapt hands a method's `self` (a classmethod's `cls`) apart from its arguments;
            # `wrapped` is already bound to it. key_fn and the lease see it first, as written.
            own_args = args if instance is None or bound else (instance, *args)
            run = steps(own_args, kwargs)
            if run is None:
                return wrapped(*args, **kwargs)
            return drive_sync(run, lambda: wrapped(*args, **kwargs))

        # A wrapt.FunctionWrapper: a transparent proxy (name, docstring, `__wrapped__`,
        # `inspect.signature`) that binds as the function it wraps does, whether a function, a
        # method, a classmethod, a staticmethod or a callable object.
        return cast(Callable[P, R], FunctionProxy(function, wrapper))

    return decorate


def refuse_generator_function(decorator: str, function: Callable[..., object]) -> None:
    """A generator function's work runs as it is iterated, after the call: never protectable."""
    if inspect.isgeneratorfunction(function) or inspect.isasyncgenfunction(function):
        raise ConfigurationError(
            f"{decorator} cannot protect the generator function {function.__qualname__}: its "
            "work runs while the caller iterates, after the key would be completed; collect "
            "the items in the function and return them as a list"
        )


def idempotent_records(
    key_fn: Callable[[Any], object] | None = None,
    *,
    namespace: str | None = None,
    **options: Unpack[RecordsOptions],
) -> Callable[[Callable[[Any, Any], object]], RecordsHandler]:
    """Turn ``handle(record, context)`` into a Lambda handler idempotent per record.

    The handler takes ``(event, context)``, runs ``handle`` on each record as delivered, each at
    most once to completion, and returns ``{"batchItemFailures": [...]}`` for SQS, DynamoDB
    Streams and Kinesis (enable ``ReportBatchItemFailures`` on the trigger). For S3 it raises
    :class:`~idemlock.batch.BatchFailedError` after trying every record if any failed. See
    :mod:`idemlock.batch` for what each source does on a failure.

    Args:
        key_fn: called with one record dict; default: the source's natural record id
            (S3 object, SQS message id, stream sequence key, Kinesis event id).
        namespace: as on :func:`idempotent`; default: the identity of ``handle``.
        options: ``store``, ``lease`` (one lease for every record of the invocation),
            ``retention``, ``clock``, ``local_cache``, ``local_cache_ttl``, ``store_result``,
            ``on_unstorable_result``, ``disabled``, ``on_event``, ``heartbeat`` and
            ``on_lock_lost``, as on
            :func:`idempotent`; and
            ``concurrency``: store calls of one batch in flight at once (default 32).

    """
    checked = validate(key_fn=key_fn, namespace=namespace, **options)

    def decorate(handle: Callable[[Any, Any], object]) -> RecordsHandler:
        # idemlock.batch (and every event source with it) loads when a batch handler is made,
        # not on `import idemlock`: a handler using only @idempotent never pays for it.
        from idemlock.batch import BatchRunner, RecordsHandler  # noqa: PLC0415

        if not callable(handle):
            raise ConfigurationError(f"@idempotent_records decorates a callable, got {handle!r}")
        refuse_generator_function("@idempotent_records", handle)
        runner = BatchRunner(
            store=checked.store,
            namespace=checked.namespace or default_namespace(handle),
            key_fn=key_fn,
            policy=checked.policy,
            concurrency=checked.concurrency,
            disabled=checked.disabled,
        )
        return RecordsHandler(handle, runner)

    return decorate
