"""How much slower than a quiet machine this one is right now, and on how many threads training runs: the
factor the time budgets stretch by, never below 1 nor above 6, fixed by hand when asked."""

from __future__ import annotations

import pytest

from grader import machine_speed as machine_speed_module
from grader.machine_speed import FACTOR_ENV, MAX_FACTOR, MachineSpeed, machine_speed


def test_the_machine_factor_is_measured_at_least_one_and_can_be_fixed(monkeypatch):
    monkeypatch.delenv(FACTOR_ENV, raising=False)
    measured = machine_speed(threads=1)
    assert measured.threads == 1 and 1.0 <= measured.factor <= MAX_FACTOR
    monkeypatch.setenv(FACTOR_ENV, "0.5")
    assert machine_speed(threads=1).factor == 1.0  # never shorter than the rubric's budget
    monkeypatch.setenv(FACTOR_ENV, "2.5")
    assert machine_speed(threads=1) == MachineSpeed(1, 2.5)


@pytest.mark.parametrize(
    ("seconds", "chosen"),
    [({2: 0.06, 1: 0.11}, 2), ({2: 0.21, 1: 0.11}, 1)],  # quiet; the other core busy: two threads wait
)
def test_the_grader_trains_on_the_thread_count_that_is_faster_now(monkeypatch, seconds, chosen):
    monkeypatch.delenv(FACTOR_ENV, raising=False)
    monkeypatch.setattr(machine_speed_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(machine_speed_module, "_median_seconds", seconds.__getitem__)
    speed = machine_speed(threads=0)
    quiet_on_both_cores = machine_speed_module.REFERENCE_SECONDS / (1 + machine_speed_module.THREAD_EFFICIENCY)
    assert speed.threads == chosen
    assert speed.factor == pytest.approx(max(1.0, seconds[chosen] / quiet_on_both_cores), abs=0.01)
    assert machine_speed(threads=2).threads == 2  # asked for: kept


def test_a_machine_slower_than_six_times_gets_six_times_the_budget(monkeypatch):
    """The stretch is bounded: a factor measured or set past 6 is taken as 6."""
    hundred_times_slower = 100 * machine_speed_module.REFERENCE_SECONDS
    monkeypatch.delenv(FACTOR_ENV, raising=False)
    monkeypatch.setattr(machine_speed_module, "_median_seconds", lambda threads: hundred_times_slower)
    assert machine_speed(threads=1) == MachineSpeed(1, MAX_FACTOR)
    monkeypatch.setenv(FACTOR_ENV, "9")
    assert machine_speed(threads=1).factor == MAX_FACTOR
