"""`deepcrl eval / render / plot` on a finished run, through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepcrl import runner
from deepcrl.cli import main


def test_eval_prints_the_metrics_of_the_latest_checkpoint(
    finished: runner.RunResult, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["eval", str(finished.run_dir)])
    out = capsys.readouterr().out
    # As many episodes as the run's own evaluations (num_eval_envs=16), by default.
    assert "epoch 4 on point_arena: 16 episodes of 50 steps" in out
    values = dict(line.split() for line in out.splitlines()[1:])
    assert set(values) >= {"eval/success_rate", "eval/time_at_goal", "eval/final_distance"}
    assert 0.0 <= float(values["eval/success_rate"]) <= 1.0


def test_eval_on_another_layout_and_epoch(
    finished: runner.RunResult, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", str(finished.run_dir), "--env", "point_u_maze_eval", "--epoch", "2"]
    main([*argv, "--episodes", "8", "--episode-length", "30"])
    out = capsys.readouterr().out
    assert "epoch 2 on point_u_maze_eval: 8 episodes of 30 steps" in out


def test_eval_per_goal_prints_one_row_per_goal_cell(
    finished: runner.RunResult, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", str(finished.run_dir), "--env", "point_u_maze", "--per-goal"]
    main([*argv, "--episodes", "64", "--episode-length", "20"])
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["goal", "cell"])
    rows = [line.split(")")[1].split() for line in lines[header + 1 :]]
    # The U maze's six goal cells, by path length from the start; all 64 episodes counted.
    assert [int(row[0]) for row in rows] == [1, 2, 3, 4, 5, 6]
    assert sum(int(row[1]) for row in rows) == 64
    assert all(0.0 <= float(row[2]) <= 1.0 for row in rows)


def test_render_writes_one_frame_per_step_and_reset(
    finished: runner.RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    out = tmp_path / "video.gif"
    argv = ["render", str(finished.run_dir), "--out", str(out), "--episodes", "2"]
    main([*argv, "--episode-length", "12"])
    assert "26 frames" in capsys.readouterr().out
    with Image.open(out) as video:
        assert video.n_frames == 2 * (12 + 1)


def test_plot_draws_several_runs(
    finished: runner.RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    out = tmp_path / "curves.png"
    main(["plot", str(finished.run_dir), str(finished.run_dir), "--out", str(out)])
    assert f"wrote {out}" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size[0] > 500 and image.size[1] > 200
