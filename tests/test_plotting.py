"""Learning-curve plots from run directories (CPU, well under a second)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from deepcrl.config import ConfigError
from deepcrl.plotting import load_curve, load_curves, load_metrics, plot_curves, plot_runs


def record(step: int, success: float | str, wall_s: float) -> dict[str, Any]:
    """One metrics.jsonl record like the runner writes."""
    return {
        "epoch": step // 1000,
        "env_steps": step,
        "eval/success_rate": success,
        "eval/time_at_goal": 10.0,
        "critic/loss": 1.5,
        "time/wall_s": wall_s,
    }


def write_run(
    root: Path, name: str, records: list[dict[str, Any]], depth: int | None = None, tail: str = ""
) -> Path:
    """A fake run directory: metrics.jsonl (+ ``tail`` appended raw) and maybe config.json."""
    run = root / name
    run.mkdir(parents=True)
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (run / "metrics.jsonl").write_text(lines + tail)
    if depth is not None:
        config = {"config": {"env": "point_u_maze", "network": {"depth": depth, "width": 32}}}
        (run / "config.json").write_text(json.dumps(config))
    return run


def one_line(err: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_load_metrics_restores_non_finite_values_and_skips_a_torn_last_line(
    tmp_path: Path,
) -> None:
    records = [record(1000, 0.0, 60.0), record(2000, "nan", 120.0), record(3000, "inf", 180.0)]
    run = write_run(tmp_path, "r", records, tail='\n{"epoch": 4, "env_steps": 40')
    loaded = load_metrics(run)
    assert [r["env_steps"] for r in loaded] == [1000, 2000, 3000]
    assert math.isnan(loaded[1]["eval/success_rate"])
    assert loaded[2]["eval/success_rate"] == math.inf
    assert loaded[0] == records[0]


def test_load_metrics_rejects_a_corrupt_line_before_the_end(tmp_path: Path) -> None:
    run = write_run(tmp_path, "r", [record(1000, 0.5, 60.0)], tail="garbage\n")
    (run / "metrics.jsonl").write_text(
        (run / "metrics.jsonl").read_text() + json.dumps(record(2000, 0.6, 120.0)) + "\n"
    )
    with pytest.raises(ConfigError, match=r"metrics\.jsonl line 2 is not a JSON object") as e:
        load_metrics(run)
    one_line(e)


def test_curves_hold_the_metric_against_steps_and_minutes(tmp_path: Path) -> None:
    a = write_run(
        tmp_path, "deep", [record(1000 * i, i / 4, 30.0 * i) for i in range(1, 5)], depth=16
    )
    b = write_run(tmp_path, "shallow", [record(500, "nan", 20.0), record(1500, 0.25, 80.0)])
    curve_a, curve_b = load_curve(a), load_curve(b)
    assert curve_a.label == "deep (depth 16)" and curve_b.label == "shallow"
    np.testing.assert_array_equal(curve_a.values, [0.25, 0.5, 0.75, 1.0])
    assert math.isnan(curve_b.values[0])
    fig = plot_curves([curve_a, curve_b], "eval/success_rate")
    ax_steps, ax_wall = fig.axes
    (line_a, line_b) = ax_steps.get_lines()
    np.testing.assert_array_equal(line_a.get_xdata(), [1000, 2000, 3000, 4000])
    np.testing.assert_array_equal(line_a.get_ydata(), [0.25, 0.5, 0.75, 1.0])
    assert line_b.get_label() == "shallow"
    np.testing.assert_allclose(ax_wall.get_lines()[0].get_xdata(), [0.5, 1.0, 1.5, 2.0])
    assert ax_wall.get_xlabel() == "wall clock (minutes)"
    assert ax_steps.get_xlabel() == "env steps"
    assert ax_steps.get_ylabel() == "eval/success_rate"


def test_long_runs_use_hours(tmp_path: Path) -> None:
    run = write_run(tmp_path, "long", [record(1000, 0.1, 3600.0), record(2000, 0.2, 5 * 3600.0)])
    fig = plot_curves([load_curve(run)], "eval/success_rate")
    assert fig.axes[1].get_xlabel() == "wall clock (hours)"
    np.testing.assert_allclose(fig.axes[1].get_lines()[0].get_xdata(), [1.0, 5.0])


def test_plot_runs_writes_a_png_with_one_line_per_run(tmp_path: Path) -> None:
    runs = [
        write_run(
            tmp_path, f"run{i}", [record(1000 * s, s / 5 + i / 10, 60.0 * s) for s in range(5)]
        )
        for i in range(3)
    ]
    out = plot_runs(runs, tmp_path / "plots" / "curves.png", metric="eval/success_rate")
    assert out == tmp_path / "plots" / "curves.png"
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (1100, 400)
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(float)
    # Each run's line colour (C0, C1, C2) is actually drawn, in both panels and the legend.
    for colour in ("C0", "C1", "C2"):
        near = np.abs(pixels - 255 * np.asarray(to_rgb(colour))).max(axis=1) < 8
        assert near.sum() > 100, colour


def test_same_named_runs_get_distinct_labels(tmp_path: Path) -> None:
    a = write_run(tmp_path / "x", "seed0", [record(1000, 0.1, 60.0)])
    b = write_run(tmp_path / "y", "seed0", [record(1000, 0.2, 60.0)], depth=8)
    c = write_run(tmp_path / "y", "other", [record(1000, 0.2, 60.0)])
    labels = [curve.label for curve in load_curves([a, b, c], "eval/time_at_goal")]
    assert labels == [str(a), f"{b} (depth 8)", "other"]


def test_errors_are_one_line_config_errors(tmp_path: Path) -> None:
    good = write_run(tmp_path, "good", [record(1000, 0.5, 60.0)])
    out = tmp_path / "out.png"
    with pytest.raises(ConfigError, match="missing does not exist") as e:
        plot_runs([good, tmp_path / "missing"], out)
    one_line(e)
    (tmp_path / "nometrics").mkdir()
    with pytest.raises(ConfigError, match=r"nometrics/metrics\.jsonl not found") as e:
        plot_runs([tmp_path / "nometrics"], out)
    one_line(e)
    empty = write_run(tmp_path, "empty", [])
    with pytest.raises(ConfigError, match="has no records yet") as e:
        plot_runs([empty], out)
    one_line(e)
    with pytest.raises(ConfigError, match="has no records yet"):
        plot_runs([write_run(tmp_path, "torn", [], tail='{"env_st')], out)
    with pytest.raises(
        ConfigError,
        match=r"'eval/sucess_rate' is not in .*available eval metrics: "
        r"eval/success_rate, eval/time_at_goal$",
    ) as e:
        plot_runs([good], out, metric="eval/sucess_rate")
    one_line(e)
    with pytest.raises(ConfigError, match="at least one run directory"):
        plot_runs([], out)
    with pytest.raises(ConfigError, match=r"cannot write 'out\.txt': use a \.png"):
        plot_runs([good], tmp_path / "out.txt")
    assert not out.exists()
