"""Timing shared by the PyTorch twins of `tvp-run bench` (developer tooling)."""
import time


def peak_rss_mib():
    """This process's peak resident memory since it started (VmHWM). Not `getrusage`'s ru_maxrss,
    which for a process that tvp-run started also counts tvp-run's own memory at the fork."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn, iterations):
    """Seconds of each of `iterations` runs of `fn`, after one warm-up run."""
    fn()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times
