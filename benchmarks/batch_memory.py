"""4c. A large batch (10,000 records in the full run): memory per record and threads, idemlock.

Run in a fresh interpreter (spawned), so that what it measures is the batch's alone: its own
client and handler, straight on DynamoDB Local (no added latency), an SQS standard batch of
first runs. Two runs of fresh records:

- plain: the peak resident set size's growth over the batch (``ru_maxrss`` before and after,
  a warm-up batch of 10 records first), the peak ``threading.active_count()`` seen by a sampler
  thread every 5 ms (the sampler itself not counted), wall and CPU time;
- traced: the same under ``tracemalloc``, whose peak is the most Python memory held at once by
  the batch (slower: not timed).
"""

from __future__ import annotations

import resource
import threading
import time
import tracemalloc
from typing import Any

from benchmarks.batches import batch_event
from benchmarks.common import create_table, gather, make_client, unique
from benchmarks.subjects import BATCH_SOURCES, RecordBody, context, idemlock_batch_handler

SOURCE = "sqs"
SAMPLE_S = 0.005


class ThreadPeak:
    """The most threads alive at once while it runs (itself excluded)."""

    def __init__(self) -> None:
        self.peak = threading.active_count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="thread-peak", daemon=True)

    def __enter__(self) -> ThreadPeak:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self.peak = max(self.peak, threading.active_count() - 1)


def _worker(endpoint_url: str, records: int, results: Any) -> None:
    """In the spawned interpreter: warm up, run the batch plainly, then under tracemalloc."""
    client = make_client(endpoint_url)
    table = create_table(client, "memory")
    source = BATCH_SOURCES[SOURCE]
    handler = idemlock_batch_handler(client, table, unique("ns"), RecordBody())
    handler(batch_event(source, 10), context())
    event = batch_event(source, records)
    rss_before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    threads_before = threading.active_count()
    with ThreadPeak() as threads:
        cpu, wall = time.process_time(), time.perf_counter()
        response = handler(event, context())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    rss_after_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del event
    traced_event = batch_event(source, records)
    tracemalloc.start()
    traced_response = handler(traced_event, context())
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    results.put(
        {
            "records": records,
            "failures": len(response["batchItemFailures"])
            + len(traced_response["batchItemFailures"]),
            "wall_s": wall,
            "cpu_s": cpu,
            "rss_growth_kb": rss_after_kb - rss_before_kb,
            "rss_growth_bytes_per_record": (rss_after_kb - rss_before_kb) * 1024 / records,
            "traced_peak_bytes": traced_peak,
            "traced_peak_bytes_per_record": traced_peak / records,
            "threads_before": threads_before,
            "threads_peak": threads.peak,
        }
    )


def measure(endpoint_url: str, *, records: int) -> dict[str, Any]:
    """One batch of ``records`` in a fresh interpreter: memory per record, threads, time."""
    (report,) = gather(
        _worker, [(endpoint_url, records)], what="the large-batch process", timeout_s=1800
    )
    return {**report, "source": BATCH_SOURCES[SOURCE].label}
