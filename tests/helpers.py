"""Shared test helpers: tiny configs that train in seconds on a CPU."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import jax

from deepcrl.config import CRLConfig, NetworkConfig, TrainConfig
from deepcrl.envs import make, wrappers
from deepcrl.envs.base import EnvState


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


def wrapped_rollout(name: str, num_envs: int, steps: int, episode_length: int) -> dict:
    """A jitted ``steps``-step random-action rollout of task ``name`` under wrap_for_training.

    Returns the env, the jitted ``run(state, key)`` (reusable from other states), the reset
    state ``first``, the ``final`` state and per step (leading axis ``steps``): ``obs`` of the
    state acted in, its ``goal`` and ``traj`` id, then the step's ``done`` and ``trunc`` flags.
    """
    env = make(name)
    venv = wrappers.wrap_for_training(env, episode_length=episode_length, num_envs=num_envs)

    @jax.jit
    def run(state: EnvState, key: jax.Array) -> tuple:
        def body(s: EnvState, k: jax.Array) -> tuple:
            a = jax.random.uniform(k, (num_envs, env.action_dim), minval=-1.0, maxval=1.0)
            nxt = venv.step(s, a)
            rec = (s.obs, s.physics.goal, s.info["traj_id"], nxt.done, nxt.info["truncation"])
            return nxt, rec

        return jax.lax.scan(body, state, jax.random.split(key, steps))

    first = jax.jit(venv.reset)(jax.random.key(0))
    final, (obs, goal, traj, done, trunc) = run(first, jax.random.key(1))
    return {
        "env": env,
        "run": run,
        "first": first,
        "final": final,
        "obs": obs,
        "goal": goal,
        "traj": traj,
        "done": done,
        "trunc": trunc,
    }
