"""Several timing passes make one timing: the fastest pass counts, the spread between passes is noise."""

from __future__ import annotations

import pytest

from fec.deploy.run import combined
from fec.deploy.select import Timing


def test_the_fastest_pass_counts_and_the_worst_tail_is_kept():
    first, second = Timing(5.0, 9.0, 6400.0, 0.02), Timing(5.5, 7.0, 5800.0, 0.01)
    timing = combined([first, second])
    assert (timing.p50_ms, timing.p99_ms, timing.throughput, timing.pass_p50_ms) == (5.0, 9.0, 6400.0, (5.0, 5.5))
    assert timing.spread == pytest.approx(0.1)  # the passes differ by 10%: more than either pass's windows


def test_one_pass_keeps_its_windows_spread():
    assert combined([Timing(2.0, 3.0, 500.0, 0.03)]) == Timing(2.0, 3.0, 500.0, 0.03, (2.0,))
