"""A DynamoDB endpoint inside this process: moto's server on a thread (the ``local`` extra).

``idemlock local`` keeps one up for a developer's other shells (``idemlock demo`` needs no port
and uses moto in process). Its data lives in memory and goes with the process.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, NamedTuple

from idemlock.cli.common import Refused
from idemlock.errors import ConfigurationError

HOST: Final = "127.0.0.1"
REGION: Final = "us-east-1"
"""moto keeps tables per region: every client of the embedded server uses this one."""
CREDENTIALS: Final = ("local", "local")
"""The server accepts any credentials, but botocore will not sign a request without some."""


class Endpoint(NamedTuple):
    """A running embedded server, and a client for it."""

    url: str
    client: Any


@contextmanager
def serve(port: int = 0) -> Iterator[Endpoint]:
    """Run the server on ``port`` (0: any free port) until the block ends."""
    import botocore.session  # noqa: PLC0415  (deferred like the store's own client)

    try:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415  (an optional extra)
    except ImportError as exc:
        raise ConfigurationError(
            "the local DynamoDB endpoint needs moto's server: pip install 'idemlock[local]' "
            "(or run DynamoDB Local, see docs/operating.md)"
        ) from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no request log over our output
    port = _check_port(port)
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    url = f"http://{HOST}:{port}"
    try:
        client = botocore.session.Session().create_client(
            "dynamodb",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS[0],
            aws_secret_access_key=CREDENTIALS[1],
        )
        yield Endpoint(url, client)
    finally:
        server.stop()


def _check_port(port: int) -> int:
    """``port`` if it is free (a free one for 0); refused, saying what to do, if it is taken.

    moto's server binds on its own thread, where a taken port would be a traceback nobody sees.
    """
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            raise Refused(
                f"port {port} on {HOST} is in use ({exc.strerror}; another DynamoDB Local?): "
                "pass --port with another one, or --port 0 for any free port"
            ) from exc
        free: int = sock.getsockname()[1]
        return free
