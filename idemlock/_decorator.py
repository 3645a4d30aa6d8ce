"""``@idempotent``: the decorator that puts a function behind the lock protocol."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from idemlock._drivers import drive_async, drive_sync
from idemlock._invocation import serving
from idemlock._options import default_store, is_disabled, validate
from idemlock._policy import Policy
from idemlock._protocol import claim_steps
from idemlock._proxy import FunctionProxy
from idemlock._results import result_type_for
from idemlock._steps import Steps
from idemlock.errors import ConfigurationError, MissingKeyError
from idemlock.keys import call_key_fn, default_namespace, payload_fingerprint, storage_key
from idemlock.lock import new_owner_token

if TYPE_CHECKING:
    from typing_extensions import Unpack  # typing.Unpack from Python 3.11

    from idemlock._options import IdempotentOptions, RecordsOptions
    from idemlock.batch import RecordsHandler

P = ParamSpec("P")
R = TypeVar("R")

logger = logging.getLogger("idemlock")


def idempotent(
    key_fn: Callable[..., object], **options: Unpack[IdempotentOptions]
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the decorated function at most once to completion per key.

    Args:
        key_fn: called with the decorated function's own arguments (``self`` first for a
            method); returns the idempotency key, a non-empty ``str``.
        options: keyword options, each documented on :class:`~idemlock._options.Options`:
            ``store``, ``namespace``, ``lease``, ``retention``, ``clock``, ``local_cache``,
            ``local_cache_ttl``, ``store_result``, ``on_unstorable_result``, ``result_type``,
            ``disabled``, ``on_event``, ``heartbeat``, ``on_lock_lost``, ``on_replay``; and
            ``fingerprint`` and
            ``on_missing_key`` (:class:`~idemlock._options.IdempotentOptions`).
            Also ``on_lease_expired`` (``"refuse"``: a lapsed claim is an unknown outcome for an
            operator, not a re-run) and ``wait`` (a duplicate waits for the first result).

    """
    policy = validate("@idempotent", key_fn, options)

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        return _protect(function, key_fn, policy)

    return decorate


def _protect(
    function: Callable[P, R], key_fn: Callable[..., object], policy: Policy
) -> Callable[P, R]:
    """``function`` behind the lock: a wrapt proxy whose calls go through one :class:`_Guard`.

    A wrapt.FunctionWrapper is a transparent proxy (name, docstring, ``__wrapped__``,
    ``inspect.signature``) that binds as the function it wraps does, whether a function, a
    method, a classmethod, a staticmethod or a callable object.
    """
    # Above @classmethod/@staticmethod, the function inside names and keys the calls; wrapt
    # binds the descriptor as written (key_fn gets `cls` first on a classmethod).
    inner = function.__func__ if isinstance(function, (classmethod, staticmethod)) else function
    if not callable(inner):
        raise ConfigurationError(f"@idempotent decorates a callable, got {function!r}")
    refuse_generator_function("@idempotent", inner)
    guard = _Guard(
        key_fn,
        inner,
        policy._replace(
            namespace=policy.namespace or default_namespace(inner),
            result_type=result_type_for(inner, policy.result_type, stored=policy.store_result),
        ),
    )
    wrapper = guard.call_async if inspect.iscoroutinefunction(inner) else guard.call
    return cast(Callable[P, R], FunctionProxy(function, wrapper))


class _Guard:
    """One decorated function's calls: each one's claim steps, run by the sync or async driver.

    A call's ``own_args`` are its arguments as the function itself receives them: wrapt hands a
    method's ``self`` (a classmethod's ``cls``) apart from its arguments, with ``wrapped``
    already bound to it; key_fn and the lease see it first, as written. A method bound already
    (``obj.method`` decorated as it is) is called without its ``self``, though wrapt hands that
    ``self`` over as the instance: its own arguments are the call's.
    """

    def __init__(
        self, key_fn: Callable[..., object], function: Callable[..., object], policy: Policy
    ) -> None:
        self._key_fn = key_fn
        self._function = function
        self._policy = policy
        self._bound = inspect.ismethod(function)

    def call(
        self,
        wrapped: Callable[..., Any],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """One call of a plain function (wrapt's wrapper signature)."""
        own_args = self._own_args(instance, args)
        with serving(own_args, kwargs):  # what the body calls knows the invocation's deadline
            steps = self._steps(own_args, kwargs)
            if steps is None:
                return wrapped(*args, **kwargs)
            return drive_sync(steps, lambda: wrapped(*args, **kwargs))

    def call_async(
        self,
        wrapped: Callable[..., Any],
        instance: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Awaitable[Any]:
        """One call of an ``async def``: the coroutine the caller awaits."""
        return self._call_async(wrapped, self._own_args(instance, args), args, kwargs)

    async def _call_async(
        self,
        wrapped: Callable[..., Any],
        own_args: tuple[Any, ...],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        with serving(own_args, kwargs):  # what the body calls knows the invocation's deadline
            steps = self._steps(own_args, kwargs)  # at the await, as the function's code runs
            if steps is None:
                return await wrapped(*args, **kwargs)
            return await drive_async(steps, lambda: wrapped(*args, **kwargs))

    def _own_args(self, instance: object, args: tuple[Any, ...]) -> tuple[Any, ...]:
        return args if instance is None or self._bound else (instance, *args)

    def _steps(self, own_args: tuple[Any, ...], kwargs: dict[str, Any]) -> Steps | None:
        """The claim steps of one call, or ``None`` when the body should run unprotected."""
        policy = self._policy
        if is_disabled(policy.disabled):
            return None
        try:
            key = call_key_fn(self._key_fn, self._function, own_args, kwargs)
        except MissingKeyError as exc:
            if policy.on_missing_key == "run":
                # Each time: a call that runs unprotected is never silent.
                name = default_namespace(self._function)
                logger.warning(
                    '%s runs unprotected (on_missing_key="run"): %s',
                    name,
                    exc,
                    extra={"idemlock_function": name},
                )
                return None
            raise
        lease_ms, budget_ms = policy.leases_for(own_args, kwargs)
        fingerprint = policy.fingerprint
        return claim_steps(
            policy.store if policy.store is not None else default_store(),
            policy,
            key=storage_key(policy.namespace, key),
            owner=new_owner_token(),
            lease_ms=lease_ms,
            budget_ms=budget_ms,
            fingerprint=(
                None if fingerprint is None else payload_fingerprint(fingerprint, own_args, kwargs)
            ),
        )


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
    **options: Unpack[RecordsOptions],
) -> Callable[[Callable[[Any, Any], object]], RecordsHandler]:
    """Turn ``handle(record, context)`` into a Lambda handler idempotent per record.

    The handler takes ``(event, context)``, runs ``handle`` on each record as delivered, each at
    most once to completion, and returns ``{"batchItemFailures": [...]}`` for SQS, DynamoDB
    Streams and Kinesis (enable ``ReportBatchItemFailures`` on the trigger). For S3 it raises
    :class:`~idemlock.errors.BatchFailedError` after trying every record if any failed. See
    :mod:`idemlock.batch` for what each source does on a failure.

    Args:
        key_fn: called with one record dict; default: the source's natural record id
            (S3 object, SQS message id, stream sequence key, Kinesis event id).
        options: keyword options, each documented on :class:`~idemlock._options.Options`
            (``namespace`` defaults to the identity of ``handle``; ``lease`` is one lease for
            every record of the invocation); and ``concurrency``: store calls of one batch in
            flight at once (default 32).

    """
    policy = validate("@idempotent_records", key_fn, options)

    def decorate(handle: Callable[[Any, Any], object]) -> RecordsHandler:
        # idemlock.batch (and every event source with it) loads when a batch handler is made,
        # not on `import idemlock`: a handler using only @idempotent never pays for it.
        from idemlock.batch import BatchRunner, RecordsHandler  # noqa: PLC0415

        if not callable(handle):
            raise ConfigurationError(f"@idempotent_records decorates a callable, got {handle!r}")
        refuse_generator_function("@idempotent_records", handle)
        namespace = policy.namespace or default_namespace(handle)
        result_type = result_type_for(handle, policy.result_type, stored=policy.store_result)
        runner = BatchRunner(
            key_fn=key_fn, policy=policy._replace(namespace=namespace, result_type=result_type)
        )
        return RecordsHandler(handle, runner)

    return decorate
