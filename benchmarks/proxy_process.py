"""Run :class:`tests.proxy.TcpProxy` in its own process, off the measured process's GIL.

In-process, the proxy's two pump threads per connection compete with the client's threads for
the interpreter lock, which would charge the proxy's own work to whichever library keeps more
requests in flight. ``python -m benchmarks.proxy_process UPSTREAM_PORT LATENCY_S`` prints the
proxy's port and serves until its standard input closes.
"""

from __future__ import annotations

import subprocess
import sys
from types import TracebackType

from benchmarks.common import ROOT


class ProxyProcess:
    """A latency-injecting proxy to ``127.0.0.1:upstream_port`` in a child process."""

    def __init__(self, upstream_port: int, latency_s: float) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.proxy_process", str(upstream_port), str(latency_s)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.strip():
            self.stop()
            raise RuntimeError("the proxy process did not report its port")
        self.port = int(line)
        self.endpoint_url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Close the child's stdin (it exits) and reap it."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> ProxyProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _serve(upstream_port: int, latency_s: float) -> None:
    from tests.proxy import TcpProxy  # noqa: PLC0415

    with TcpProxy(upstream_port) as proxy:
        proxy.latency = latency_s
        sys.stdout.write(f"{proxy.port}\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the parent closes it


if __name__ == "__main__":
    _serve(int(sys.argv[1]), float(sys.argv[2]))
