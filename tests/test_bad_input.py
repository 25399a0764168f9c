"""Bad input gets one line naming the field and the fix, exit 2, no traceback, nothing written."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from deepcrl import runner
from deepcrl.cli import main
from helpers import copy_run


def tree_digest(path: Path) -> str:
    """Hash of every file name and content under ``path`` (or of its absence)."""
    if not path.exists():
        return "absent"
    digest = hashlib.sha256()
    for item in sorted(path.rglob("*")):
        digest.update(str(item.relative_to(path)).encode())
        if item.is_file():
            digest.update(item.read_bytes())
    return digest.hexdigest()


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run the CLI in-process; (exit code, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    """Exit 2, exactly one non-empty stderr line containing ``fragment``, no traceback."""
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("deepcrl: error: ")
    assert fragment in lines[0], lines[0]


# (flags, fragment of the message): each rejected before anything is written.
TRAIN_CASES = [
    (["--env", "point_u_maz"], "closest: point_u_maze"),
    (["--env", "ant_u9_maze"], "unknown env"),
    (["--eval-env", "pointu_maze"], "point_u_maze"),
    (["--depth", "6"], "depth=6"),
    (["--critic-depth", "2"], "try 4"),
    (["--width", "0"], "width=0: must be positive"),
    (["--batch-size", "100000"], "batch_size=100000 exceeds"),
    (["--batch-size", "1"], "batch_size must be at least 2"),
    (["--num-envs", "0"], "num_envs=0"),
    (["--num-eval-envs", "-3"], "num_eval_envs=-3"),
    (["--total-env-steps", "-5"], "total_env_steps=-5"),
    (["--total-env-steps", "0"], "total_env_steps=0"),
    (["--total-env-steps", "1000"], "use 48000"),
    (["--num-epochs", "0"], "num_epochs=0"),
    (["--critic-lr", "inf"], "critic_lr=inf"),
    (["--discount", "1.0"], "discount=1.0"),
    (["--prefill-steps", "10"], "prefill_steps=10 is shorter than one episode"),
    (["--replay-capacity", "100"], "replay_capacity=100 is smaller than prefill_steps"),
    (["--keep-checkpoints", "0"], "keep_checkpoints=0"),
    (["--checkpoint-every", "-1"], "checkpoint_every=-1"),
    (["--actor-random-goals", "1.5"], "actor_random_goals=1.5"),
]


@pytest.mark.parametrize(("flags", "fragment"), TRAIN_CASES)
def test_bad_train_flags(
    flags: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "run"
    code, err = run_main(["train", "--run-dir", str(run_dir), *flags], capsys)
    assert_one_line_error(code, err, fragment)
    assert not run_dir.exists()


def test_existing_run_dir_is_not_overwritten(
    finished: runner.RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = copy_run(finished.run_dir, tmp_path)
    before = tree_digest(run_dir)
    code, err = run_main(["train", "--run-dir", str(run_dir)], capsys)
    assert_one_line_error(code, err, "--resume")
    assert tree_digest(run_dir) == before


def test_unwritable_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    code, err = run_main(["train", "--run-dir", str(blocker / "run")], capsys)
    assert_one_line_error(code, err, "is not writable")
    assert blocker.read_text() == "not a directory"


def test_run_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "metrics"
    target.write_text("x")
    code, err = run_main(["train", "--run-dir", str(target)], capsys)
    assert_one_line_error(code, err, "is not a directory")
    assert target.read_text() == "x"


def make_foreign(run_dir: Path) -> None:
    """Checkpoints whose stored config is not this run's (as if copied from another run)."""
    meta = run_dir / "config.json"
    stored = json.loads(meta.read_text())
    stored["config"]["seed"] = 123
    meta.write_text(json.dumps(stored))


def make_corrupt(run_dir: Path) -> None:
    """Overwrite the latest checkpoint's array data with garbage."""
    for path in (run_dir / "checkpoints" / "3").rglob("*"):
        if path.is_file() and path.name != "metadata":
            path.write_bytes(b"\x00garbage")


def make_no_checkpoints(run_dir: Path) -> None:
    """A run that stopped before its first checkpoint."""
    shutil.rmtree(run_dir / "checkpoints")


def make_not_a_run(run_dir: Path) -> None:
    """A directory without config.json."""
    (run_dir / "config.json").unlink()


def make_broken_config(run_dir: Path) -> None:
    """config.json that is not JSON."""
    (run_dir / "config.json").write_text("{ not json")


def make_unknown_field(run_dir: Path) -> None:
    """config.json from a deepcrl that has a field this one lacks."""
    meta = run_dir / "config.json"
    stored = json.loads(meta.read_text())
    stored["config"]["network"]["hyper_connections"] = True
    meta.write_text(json.dumps(stored))


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (make_foreign, "belongs to another run"),
        (make_corrupt, "is unreadable"),
        (make_no_checkpoints, "has no checkpoints/ directory"),
        (make_not_a_run, "is not a deepcrl run directory"),
        (make_broken_config, "is unreadable"),
        (make_unknown_field, "unknown fields ['hyper_connections']"),
    ],
)
def test_bad_resume_targets(
    damage: Callable[[Path], None],
    fragment: str,
    finished: runner.RunResult,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = copy_run(finished.run_dir, tmp_path)
    # Pretend the run stopped after epoch 3 so that resuming has work to do.
    shutil.rmtree(run_dir / "checkpoints" / "4")
    damage(run_dir)
    before = tree_digest(run_dir)
    code, err = run_main(["train", "--resume", str(run_dir)], capsys)
    assert_one_line_error(code, err, fragment)
    assert tree_digest(run_dir) == before


def test_resume_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["train", "--resume", str(tmp_path / "nope")], capsys)
    assert_one_line_error(code, err, "does not exist")
    assert not (tmp_path / "nope").exists()


def test_resume_refuses_changed_settings(
    finished: runner.RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = copy_run(finished.run_dir, tmp_path)
    before = tree_digest(run_dir)
    code, err = run_main(["train", "--resume", str(run_dir), "--depth", "8", "--seed", "2"], capsys)
    assert_one_line_error(code, err, "drop --seed, --depth")
    assert tree_digest(run_dir) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["eval", "{missing}"], "does not exist"),
        (["eval", "{run}", "--epoch", "99"], "no checkpoint for epoch 99"),
        (["eval", "{run}", "--episodes", "0"], "episodes=0"),
        (["eval", "{run}", "--env", "point_u_maz"], "closest: point_u_maze"),
        (["render", "{run}", "--out", "{tmp}/video.avi"], ".avi"),
        (["render", "{missing}"], "does not exist"),
        (["plot", "{missing}"], "does not exist"),
        (["plot", "{run}", "--metric", "eval/sucess_rate"], "eval/success_rate"),
    ],
)
def test_bad_inspect_commands(
    args: list[str],
    fragment: str,
    finished: runner.RunResult,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_dir = copy_run(finished.run_dir, tmp_path)
    before = tree_digest(run_dir)
    names = {"run": str(run_dir), "missing": str(tmp_path / "missing"), "tmp": str(tmp_path)}
    code, err = run_main([a.format(**names) for a in args], capsys)
    assert_one_line_error(code, err, fragment)
    assert tree_digest(run_dir) == before
    assert not (tmp_path / "video.avi").exists()
