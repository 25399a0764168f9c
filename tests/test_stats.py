"""Scores and their aggregation across seeds, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from deepcrl.stats import aggregate, bootstrap_ci, iqm, run_score


def test_run_score_is_the_mean_of_the_last_five_evaluations() -> None:
    records = [{"eval/time_at_goal": v} for v in (100.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0)]
    assert run_score(records, "eval/time_at_goal") == 3.0  # (1+2+3+4+5)/5
    assert run_score(records[:2], "eval/time_at_goal") == 50.0  # fewer than 5: all
    assert math.isnan(run_score([], "eval/time_at_goal"))


def test_mean_and_standard_error_by_hand() -> None:
    agg = aggregate([1.0, 2.0, 3.0, 4.0])
    # mean 2.5; sample variance (2.25+0.25+0.25+2.25)/3 = 5/3; se = sqrt(5/3)/2
    assert agg.mean == 2.5
    assert agg.se == pytest.approx(math.sqrt(5 / 3) / 2)
    assert agg.iqm is None and agg.iqm_ci is None  # fewer than 5 seeds
    assert agg.text() == "2.5 ± 0.645"


def test_iqm_and_bootstrap_with_five_seeds() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert iqm(values) == 3.0  # drop one at each end: mean(2, 3, 4)
    assert iqm([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 100.0]) == 4.5  # mean(3, 4, 5, 6)
    agg = aggregate(values)
    assert agg.mean == 4.0
    assert agg.se == pytest.approx(math.sqrt(12.5 / 5))  # variance (9+4+1+0+36)/4
    assert agg.iqm == 3.0
    assert agg.iqm_ci is not None
    lo, hi = agg.iqm_ci
    assert 1.0 <= lo <= 3.0 <= hi <= 10.0
    assert agg.iqm_ci == bootstrap_ci(values)  # deterministic
    assert "IQM 3 [" in agg.text()


def test_constant_scores_have_a_point_interval_and_one_seed_has_no_se() -> None:
    assert bootstrap_ci([7.0] * 6) == (7.0, 7.0)
    one = aggregate([5.0])
    assert one.mean == 5.0 and math.isnan(one.se) and one.text() == "5"
    assert aggregate([float("nan"), 2.0]).n == 1
