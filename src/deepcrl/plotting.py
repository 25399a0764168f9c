"""Learning curves from run directories: metric vs env steps and vs wall-clock time.

A run directory holds ``metrics.jsonl`` (one JSON record per evaluation, written by
``logging.JsonlSink``: non-finite floats appear as the strings "nan", "inf", "-inf") and
``config.json`` (``{"config": {"env": ..., "network": {"depth": ..., ...}, ...}, ...}``).
Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no display).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from deepcrl.config import ConfigError

Record = dict[str, Any]

STEPS_KEY = "env_steps"
"""Record key of the x axis of the left panel."""
WALL_KEY = "time/wall_s"
"""Record key of the x axis of the right panel (seconds since the run started)."""

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_HOURS_AFTER_S = 3 * 3600.0  # wall-clock axis switches from minutes to hours past this


def _finite_or_str(value: Any) -> Any:
    """Turn the JSONL sink's "nan" / "inf" / "-inf" strings back into floats."""
    if isinstance(value, str) and value.lower() in _NON_FINITE:
        return _NON_FINITE[value.lower()]
    return value


def _run_dir(run_dir: Path | str) -> Path:
    """``run_dir`` as a Path, checked to be an existing directory."""
    path = Path(run_dir)
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise ConfigError(f"run directory {path} {what}: pass the folder of a training run")
    return path


def load_metrics(run_dir: Path | str) -> list[Record]:
    """The records of ``run_dir/metrics.jsonl``; a truncated last line (a crash) is skipped."""
    path = _run_dir(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise ConfigError(f"{path} not found: {path.parent} is not a finished or running run")
    lines = path.read_text(encoding="utf-8").splitlines()
    records: list[Record] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            if number == len(lines):  # cut short by a crash mid-write: drop it
                break
            raise ConfigError(f"{path} line {number} is not a JSON object: {line[:60]!r}")
        records.append({k: _finite_or_str(v) for k, v in record.items()})
    return records


def _depth(run_dir: Path) -> int | None:
    """network.depth from run_dir/config.json, or None if it cannot be read."""
    try:
        config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        depth = config["config"]["network"]["depth"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return depth if isinstance(depth, int) else None


@dataclasses.dataclass(frozen=True)
class Curve:
    """One run's metric, ready to plot."""

    label: str
    """Legend entry: the run directory's name, plus its depth when config.json has it."""
    env_steps: np.ndarray
    """(n,) float64 env steps of each record that has the metric."""
    wall_s: np.ndarray
    """(n,) float64 seconds since the run started (NaN where a record lacks it)."""
    values: np.ndarray
    """(n,) float64 metric values; non-finite values are NaN (gaps in the line)."""


def _as_float(value: Any) -> float:
    """A record value as a float, NaN when missing, non-numeric or infinite."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out if math.isfinite(out) else math.nan


def load_curve(run_dir: Path | str, metric: str = "eval/success_rate") -> Curve:
    """``metric`` against env steps and wall time for one run directory."""
    path = _run_dir(run_dir)
    records = load_metrics(path)
    if not records:
        raise ConfigError(f"{path / 'metrics.jsonl'} has no records yet: wait for an evaluation")
    rows = [r for r in records if metric in r]
    if not rows:
        available = sorted({k for r in records for k in r if k.startswith("eval/")})
        raise ConfigError(
            f"metric {metric!r} is not in {path / 'metrics.jsonl'}; "
            f"available eval metrics: {', '.join(available) or 'none'}"
        )
    depth = _depth(path)
    column = lambda key: np.array([_as_float(r.get(key)) for r in rows], np.float64)
    return Curve(
        label=path.name if depth is None else f"{path.name} (depth {depth})",
        env_steps=column(STEPS_KEY),
        wall_s=column(WALL_KEY),
        values=column(metric),
    )


def plot_curves(curves: Sequence[Curve], metric: str) -> Figure:
    """Two panels: ``metric`` vs env steps (left) and vs wall-clock time (right)."""
    longest = max((float(np.nanmax(c.wall_s, initial=0.0)) for c in curves), default=0.0)
    unit, scale = ("hours", 3600.0) if longest > _HOURS_AFTER_S else ("minutes", 60.0)
    fig = Figure(figsize=(11.0, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax_steps, ax_wall = fig.subplots(1, 2, sharey=True)
    for i, curve in enumerate(curves):
        style = {"color": f"C{i % 10}", "marker": "o", "markersize": 3, "lw": 1.5}
        ax_steps.plot(curve.env_steps, curve.values, label=curve.label, **style)
        ax_wall.plot(curve.wall_s / scale, curve.values, label=curve.label, **style)
    ax_steps.set_xlabel("env steps")
    ax_wall.set_xlabel(f"wall clock ({unit})")
    ax_steps.set_ylabel(metric)
    if metric.endswith("success_rate"):
        ax_steps.set_ylim(-0.02, 1.02)
    for ax in (ax_steps, ax_wall):
        ax.grid(True, alpha=0.3)
    ax_steps.legend(fontsize=8, loc="best")
    fig.suptitle(metric)
    return fig


def _unique_labels(curves: list[Curve], run_dirs: Sequence[Path]) -> list[Curve]:
    """Curves whose labels use the full path where two runs share a directory name."""
    names = [Path(d).name for d in run_dirs]
    return [
        dataclasses.replace(c, label=str(d) + c.label[len(name) :]) if names.count(name) > 1 else c
        for c, d, name in zip(curves, run_dirs, names, strict=True)
    ]


def load_curves(run_dirs: Sequence[Path], metric: str = "eval/success_rate") -> list[Curve]:
    """One curve per run directory, labels made unique (full path where names clash)."""
    if not run_dirs:
        raise ConfigError("plot: pass at least one run directory")
    return _unique_labels([load_curve(d, metric) for d in run_dirs], run_dirs)


def plot_runs(run_dirs: Sequence[Path], out: Path, metric: str = "eval/success_rate") -> Path:
    """Draw ``metric`` of each run vs env steps and vs wall clock into the image ``out``."""
    out = Path(out)
    formats = FigureCanvasAgg.get_supported_filetypes()
    if out.suffix.lstrip(".").lower() not in formats:
        raise ConfigError(f"plot: cannot write {out.name!r}: use a .png file (or .pdf, .svg)")
    curves = load_curves(run_dirs, metric)
    fig = plot_curves(curves, metric)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
