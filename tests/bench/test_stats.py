import pytest

from bench.stats import percentile, ratio, summary


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 99.9) == 100
    assert percentile([7.0], 99.9) == 7.0


def test_percentile_refuses_bad_input():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="outside"):
        percentile([1.0], 101)


def test_summary_gives_median_and_spread():
    stat = summary([4, 1, 3, 2, 10])
    assert stat["median"] == 3
    assert (stat["min"], stat["max"], stat["n"]) == (1, 10, 5)
    assert stat["q1"] == 2 and stat["q3"] == 4
    assert stat["spread_pct"] == pytest.approx(300.0)


def test_summary_of_one_run_has_no_spread():
    stat = summary([2.5])
    assert stat["median"] == stat["q1"] == stat["q3"] == 2.5
    assert stat["spread_pct"] == 0


def test_ratio_of_zero_is_infinite_not_an_error():
    assert ratio(3, 0) == float("inf")
    assert ratio(3, 1.5) == 2
