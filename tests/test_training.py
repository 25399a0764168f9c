"""End-to-end trainer: exact budgets, run directory contents, and that a tiny agent learns."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from deepcrl import envs
from deepcrl.config import ConfigError, CRLConfig, NetworkConfig
from deepcrl.runner import train
from deepcrl.training import make_trainer
from helpers import small_config

REQUIRED_METRICS = (
    "env_steps",
    "eval/time_at_goal",
    "eval/success_rate",
    "eval/final_distance",
    "training/sps",
    "critic/loss",
    "critic/accuracy",
    "critic/logits_pos",
    "critic/logits_neg",
    "actor/loss",
    "actor/entropy",
    "alpha",
    "time/compile_s",
)


def test_run_writes_config_and_one_metrics_line_per_epoch(tmp_path: Path) -> None:
    result = train(small_config(tmp_path / "run"), sinks=[], verbose=False)
    lines = (result.run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == 2
    for record in records:
        missing = [k for k in REQUIRED_METRICS if k not in record]
        assert not missing
        assert all(np.isfinite(record[k]) for k in REQUIRED_METRICS)
    # The env-step budget is exact: epochs * steps per epoch == total_env_steps.
    assert records[-1]["env_steps"] == 16 * 10 * 4 * 2
    assert records[0]["env_steps"] == 16 * 10 * 4
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert saved["config"]["episode_length"] == envs.make("point_arena").default_episode_length
    assert saved["config"]["network"]["width"] == 32
    assert saved["schedule"]["total_env_steps_with_prefill"] == 1280 + 16 * 50
    assert saved["schedule"]["params"]["total"] > 0
    assert "jax" in saved["versions"] and saved["device"]["platform"] == "cpu"


def test_existing_run_dir_is_never_overwritten_by_default(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text("precious\n")
    with pytest.raises(ConfigError, match="--overwrite"):
        train(small_config(run_dir), sinks=[], verbose=False)
    assert (run_dir / "metrics.jsonl").read_text() == "precious\n"


def test_bad_config_fails_before_anything_is_written(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError):
        train(small_config(run_dir, total_env_steps=999), sinks=[], verbose=False)
    assert not run_dir.exists()


def test_collected_data_has_new_goals_after_every_reset() -> None:
    """Within one env slot, each trajectory id in the buffer is one episode of fixed length."""
    cfg = small_config(Path("unused"), prefill_steps=150, replay_capacity=150)
    env = envs.make(cfg.env)
    trainer = make_trainer(cfg, env)
    ts = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    traj = np.asarray(ts.buffer.data["traj_id"])  # (num_envs, capacity)
    episode = env.default_episode_length
    # Auto-reset starts a new id exactly every episode_length steps.
    expected = np.arange(150) // episode
    assert (traj == expected[None, :]).all()
    # And every new episode starts at a new place: first states differ between episodes.
    firsts = np.asarray(ts.buffer.data["state"])[:, ::episode]  # (num_envs, episodes, 2)
    assert np.all(np.linalg.norm(firsts[:, 1:] - firsts[:, :-1], axis=-1) > 0)


def test_tiny_agent_learns_to_beat_a_random_policy(tmp_path: Path) -> None:
    """A short run on the open arena must clearly beat its own untrained policy."""
    cfg = small_config(
        tmp_path / "learn",
        num_envs=32,
        unroll_length=10,
        sgd_steps=16,
        total_env_steps=32 * 10 * 30 * 4,
        num_epochs=4,
        crl=CRLConfig(batch_size=64, actor_lr=1e-3, critic_lr=1e-3, alpha_lr=3e-3),
        network=NetworkConfig(depth=4, width=64, repr_dim=16),
    )
    env = envs.make(cfg.env)
    trainer = make_trainer(cfg, env)
    ts = jax.jit(trainer.init)(jax.random.PRNGKey(1))
    evaluate = jax.jit(trainer.evaluate)
    before = evaluate(ts, jax.random.PRNGKey(2))
    epoch = jax.jit(trainer.train_epoch)
    for _ in range(cfg.num_epochs):
        ts, _ = epoch(ts)
    after = evaluate(ts, jax.random.PRNGKey(2))
    print({k: (float(before[k]), float(after[k])) for k in before})
    assert float(after["eval/success_rate"]) >= float(before["eval/success_rate"]) + 0.2
    assert float(after["eval/final_distance"]) < 0.5 * float(before["eval/final_distance"])
