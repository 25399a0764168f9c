"""Shared test helpers: tiny configs that train in seconds on a CPU."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from deepcrl.config import CRLConfig, NetworkConfig, TrainConfig


def small_config(run_dir: Path, **overrides: object) -> TrainConfig:
    """A few-second run on the open arena (2 epochs of 4 training steps)."""
    cfg = TrainConfig(
        env="point_arena",
        num_envs=16,
        unroll_length=10,
        sgd_steps=4,
        total_env_steps=16 * 10 * 4 * 2,
        num_epochs=2,
        prefill_steps=50,
        replay_capacity=200,
        num_eval_envs=16,
        network=NetworkConfig(depth=4, width=32, repr_dim=16),
        crl=CRLConfig(batch_size=32),
        run_dir=run_dir,
        progress=False,
    )
    return dataclasses.replace(cfg, **overrides)  # type: ignore[arg-type]


def four_epoch_config(run_dir: Path, **overrides: object) -> TrainConfig:
    """4 epochs of 2 training steps each, a checkpoint after every epoch."""
    return small_config(
        run_dir, **{"total_env_steps": 16 * 10 * 2 * 4, "num_epochs": 4, **overrides}
    )


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    """A private copy of a finished run directory (tests change copies, never the original)."""
    return Path(shutil.copytree(run_dir, tmp_path / "copy"))
