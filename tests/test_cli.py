"""The command line: --help documents every field; bad input exits 2 with one line."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from deepcrl.config import CRLConfig, NetworkConfig, TrainConfig


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `deepcrl ARGS` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "deepcrl.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "JAX_PLATFORMS": "cpu"},
        timeout=300,
    )


@pytest.fixture(scope="module")
def train_help() -> str:
    out = run_cli("train", "--help")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_train_help_documents_every_field(train_help: str) -> None:
    for cls in (TrainConfig, NetworkConfig, CRLConfig):
        for f in dataclasses.fields(cls):
            if f.name in ("network", "crl"):
                continue
            flag = "--" + f.name.replace("_", "-")
            assert flag in train_help, f"{flag} missing from deepcrl train --help"
    # Field docstrings become help text.
    assert "multiple of 4" in train_help
    assert "update-to-data ratio" in train_help


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--depth", "10"], "depth=10"),
        (["--env", "point_u_maz"], "point_u_maze"),
        (["--total-env-steps", "1000"], "total_env_steps=1000"),
        (["--batch-size", "1"], "batch_size"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(
    args: list[str], fragment: str, tmp_path: Path
) -> None:
    out = run_cli("train", "--run-dir", str(tmp_path / "run"), *args, cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], out.stderr
    assert not (tmp_path / "run").exists()


def test_envs_lists_tasks_and_describes_named_ones() -> None:
    out = run_cli("envs")
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    for name in ("point_arena", "point_u_maze", "point_big_maze"):
        assert "CPU ok" in lines[name]
    assert "GPU" in lines["ant_u_maze"] and "GPU" in lines["reacher"]
    out = run_cli("envs", "point_u_maze", "point_arena")
    assert out.returncode == 0, out.stderr
    assert "point_u_maze: state 2, goal 2 (state entries [0, 1]), action 2, success radius " in (
        out.stdout
    )
    assert "point_arena: state 2" in out.stdout
    out = run_cli("envs", "point_u_maz")
    assert out.returncode == 2 and "closest: point_u_maze" in out.stderr
