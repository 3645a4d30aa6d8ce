"""A seeded simulation of every seam of idemlock, with a history checker (issue 23).

Workers invoke direct calls, ``async`` calls and batches (SQS standard; DynamoDB Streams,
Kinesis and SQS FIFO in order) with heartbeats, manual extends, slow and raising ``on_event``
sinks, killed workers, store faults, redeliveries and concurrent duplicates, waiters
(``wait=``), bodies of ``idemlock.step`` recovery points, ``on_lease_expired="refuse"`` and an
operator who settles unknown outcomes, under a virtual clock; a checker then asserts the promise
on the history.
See docs/simulation.md for the design and how to run more seeds (``IDEMLOCK_SIM_SEEDS``).

It drives only the public API (``idempotent``, ``idempotent_records``, ``current_lock``,
``idemlock.step``, ``idemlock.testing``, ``DynamoDBStore``, the CLI's ``lease_left_ms``), so
that it survives refactorings of the library.
"""
