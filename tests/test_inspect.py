"""`deepcrl eval / render / plot` on a finished run, through the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from deepcrl import runner
from deepcrl.cli import main


def test_eval_prints_the_metrics_of_the_latest_checkpoint(
    finished: runner.RunResult, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["eval", str(finished.run_dir), "--episodes", "16"])
    out = capsys.readouterr().out
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
