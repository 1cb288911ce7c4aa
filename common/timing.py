"""The median time of a call, the one way the project times code (benchmarks and train.py's XLA choice)."""

import statistics
import time


def median_seconds(function, calls, clock=time.perf_counter):
    """Median seconds of `calls` calls of `function`, after one to warm up (tracing, compiling, allocating).

    `clock` returns seconds; tests pass one of their own to make each call take a set time.
    """
    function()
    times = []
    for _ in range(calls):
        started = clock()
        function()
        times.append(clock() - started)
    return statistics.median(times)
