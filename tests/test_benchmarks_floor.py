"""The batch floor's arithmetic (benchmarks/floor.py): claims in waves, bodies, last complete."""

from __future__ import annotations

import pytest

from benchmarks.floor import claim_waves, floor_ms, floor_overhead_ms, floors


def test_claims_go_out_in_waves_of_the_concurrency() -> None:
    """⌈N/C⌉ waves of single writes; ⌈⌈N/25⌉/C⌉ with 25 statements to a request."""
    assert claim_waves(100, 32) == 4
    assert claim_waves(1000, 32) == 32
    assert claim_waves(32, 32) == 1
    assert claim_waves(100, 32, per_request=25) == 1
    assert claim_waves(1000, 32, per_request=25) == 2  # 40 requests, 32 at once
    assert claim_waves(1, 1, per_request=25) == 1


def test_no_op_bodies_leave_the_waves_and_the_last_complete() -> None:
    """With bodies that take no time, the floor is (waves + 1) round trips."""
    assert floor_ms(100, 32, rtt_ms=20.0, bodies_ms=0.0) == 100.0
    assert floor_ms(100, 32, rtt_ms=20.0, bodies_ms=0.0, per_request=25) == 40.0
    assert floor_overhead_ms(1000, 32, rtt_ms=20.0, bodies_ms=0.0, per_request=25) == 60.0


def test_long_bodies_hide_the_later_waves() -> None:
    """Bodies run one after another from the first claim's return: when they outlast the waves,
    the floor is a round trip, the bodies, and the last complete; the overhead two round trips."""
    assert floor_ms(100, 32, rtt_ms=20.0, bodies_ms=500.0) == 540.0
    assert floor_overhead_ms(100, 32, rtt_ms=20.0, bodies_ms=500.0) == 40.0


def test_floors_reports_both_request_shapes() -> None:
    """One case's floors: one write per request and 25 statements per request, side by side."""
    case = floors(1000, 32, rtt_ms=10.0, bodies_ms=0.0)
    assert case["single"]["round_trips"] == 33
    assert case["single"]["overhead_ms"] == 330.0
    assert case["batched"]["round_trips"] == 3
    assert case["batched"]["overhead_ms"] == 30.0


@pytest.mark.parametrize("args", [(0, 32), (10, 0)])
def test_empty_batches_and_no_concurrency_are_refused(args: tuple[int, int]) -> None:
    """A batch has at least one record and one request in flight: anything else is a mistake."""
    with pytest.raises(ValueError, match="at least 1"):
        claim_waves(*args)
