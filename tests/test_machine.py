"""builder/machine.py: the CPUs a process may use, and memory reused while a model runs on the CPU."""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest

from builder import machine
from builder.machine import freed_memory_reused, usable_cpus


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_usable_cpus_are_this_process_own_share_not_the_machine():
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(allowed)})  # as `taskset -c N` or a container's share would
        assert usable_cpus() == 1
    finally:
        os.sched_setaffinity(0, allowed)
    assert usable_cpus() == len(allowed)


def faults_of(rounds: int, values: int) -> int:
    """Page faults of allocating, touching and freeing `values` float32s `rounds` times, as a forward pass does."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(rounds):
        np.ones(values, np.float32).sum()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(machine._glibc() is None, reason="the tuning is glibc's mallopt; other C libraries skip it")
def test_inside_the_block_freed_memory_serves_the_next_allocation_without_faulting_it_in_again():
    values, rounds = 4 << 20, 20  # 16 MiB a round: 4,096 pages of 4 KiB
    with freed_memory_reused():
        faults_of(1, values)  # the first round grows the heap
        inside = faults_of(rounds, values)
    after = faults_of(rounds, values)
    pages = rounds * (values * 4 // 4096)
    # Reused, the pages are already mapped: next to no fault.
    assert inside < pages // 20, inside
    # Afterwards glibc still reuses such blocks as its adaptive thresholds would: a threshold set by mallopt ends the
    # adaptation, and the default trimming threshold then gave every round's pages back (about 9,800 faults here).
    assert after < pages // 10, after
