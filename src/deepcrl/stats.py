"""Scores of runs and their aggregation across seeds.

A run's score is the mean of its last 5 evaluations (FACTS.md section 5). Across seeds: the
mean with its standard error (sample std / sqrt(n)) and, from 5 seeds on, the interquartile
mean (mean of the middle 50% after cutting floor(n/4) runs at each end) with a 95% percentile
bootstrap confidence interval over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LAST_EVALS = 5
"""Evaluations averaged into a run's score."""
MIN_SEEDS_FOR_IQM = 5
"""Seeds needed before the IQM and its bootstrap interval are reported."""
BOOTSTRAP_SAMPLES = 2000
"""Resamples of the seeds behind each bootstrap interval."""


def run_score(records: Sequence[dict[str, Any]], metric: str, last: int = LAST_EVALS) -> float:
    """Mean of ``metric`` over the last ``last`` records (all of them if fewer); NaN if none."""
    values = [float(r[metric]) for r in records if metric in r][-last:]
    return float(np.mean(values)) if values else math.nan


def iqm(values: Sequence[float]) -> float:
    """Interquartile mean: drop floor(n/4) values at each end of the sorted list, average."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    cut = len(x) // 4
    return float(np.mean(x[cut : len(x) - cut]))


def bootstrap_ci(
    values: Sequence[float],
    statistic: Any = iqm,
    samples: int = BOOTSTRAP_SAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resampled values (deterministic)."""
    x = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(samples, len(x)))
    stats = np.array([statistic(x[row]) for row in idx])
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Aggregate:
    """One metric across the seeds of a point."""

    n: int
    mean: float
    se: float
    """Standard error of the mean (NaN for one seed)."""
    iqm: float | None = None
    """Interquartile mean (5+ seeds only)."""
    iqm_ci: tuple[float, float] | None = None
    """95% bootstrap interval of the IQM (5+ seeds only)."""

    def text(self, digits: int = 3) -> str:
        """'mean ± se' (+ ', IQM x [lo, hi]' with 5+ seeds)."""
        fmt = f"{{:.{digits}g}}"
        out = fmt.format(self.mean)
        if self.n > 1:
            out += " ± " + fmt.format(self.se)
        if self.iqm is not None and self.iqm_ci is not None:
            lo, hi = self.iqm_ci
            out += f"; IQM {fmt.format(self.iqm)} [{fmt.format(lo)}, {fmt.format(hi)}]"
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly fields."""
        return {
            "n": self.n,
            "mean": self.mean,
            "se": self.se,
            "iqm": self.iqm,
            "iqm_ci": None if self.iqm_ci is None else list(self.iqm_ci),
        }


def aggregate(values: Sequence[float]) -> Aggregate:
    """Mean ± standard error across seeds; IQM with a bootstrap CI from 5 seeds on."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=np.float64)
    n = len(x)
    if n == 0:
        return Aggregate(n=0, mean=math.nan, se=math.nan)
    se = float(np.std(x, ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    if n < MIN_SEEDS_FOR_IQM:
        return Aggregate(n=n, mean=float(np.mean(x)), se=se)
    vals = x.tolist()
    return Aggregate(n=n, mean=float(np.mean(x)), se=se, iqm=iqm(vals), iqm_ci=bootstrap_ci(vals))
