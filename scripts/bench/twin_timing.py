"""Timing shared by the PyTorch twins of `tvp-run bench` (developer tooling)."""
import time


def timed(fn, iterations):
    """Seconds of each of `iterations` runs of `fn`, after one warm-up run."""
    fn()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times
