import os
import subprocess
import sys

from bench.monitor import PeakRss, usage, wait_for


def test_usage_counts_a_process_trees_cpu_and_memory():
    # A child of its own, busy for 0.6 s of CPU: pytest's own tree is no fixed point (a
    # server it started that exits between two readings takes its CPU time with it).
    busy = (
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\ninput()"
    )
    proc = subprocess.Popen([sys.executable, "-c", busy], stdin=subprocess.PIPE)
    try:
        before = usage(proc.pid)
        assert wait_for(lambda: usage(proc.pid).minus(before).cpu_seconds >= 0.2, timeout=30)
        assert usage(proc.pid).rss_bytes > 5 * 2**20
    finally:
        proc.kill()
        proc.wait()


def test_peak_rss_samples_until_stopped():
    with PeakRss(os.getpid(), every=0.01) as peak:
        assert wait_for(lambda: peak.peak > 0, timeout=5)
    assert peak.peak > 0


def test_wait_for_gives_up_after_its_timeout():
    assert wait_for(lambda: False, timeout=0.05, every=0.01) is False
