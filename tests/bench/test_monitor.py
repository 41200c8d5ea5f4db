import os

from bench.monitor import PeakRss, usage, wait_for


def test_usage_of_this_process_counts_cpu_and_memory():
    before = usage(os.getpid())
    sum(i * i for i in range(200_000))
    after = usage(os.getpid())
    spent = after.minus(before)
    assert spent.cpu_seconds > 0
    assert after.rss_bytes > 10 * 2**20


def test_peak_rss_samples_until_stopped():
    with PeakRss(os.getpid(), every=0.01) as peak:
        assert wait_for(lambda: peak.peak > 0, timeout=5)
    assert peak.peak > 0


def test_wait_for_gives_up_after_its_timeout():
    assert wait_for(lambda: False, timeout=0.05, every=0.01) is False
