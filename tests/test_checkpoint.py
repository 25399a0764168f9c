"""Checkpoints: exact resume, SIGKILL survival, the divergence guard, and policy loading."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepcrl import envs, runner
from deepcrl.checkpoint import Checkpointer, abstract_state, load_policy
from deepcrl.config import TrainConfig
from deepcrl.errors import CheckpointError, DivergenceError
from deepcrl.logging import Record
from deepcrl.training import Trainer, TrainingState, make_trainer
from helpers import copy_run, four_epoch_config, small_config

TIMING_KEYS = ("training/sps", "time/epoch_s", "time/compile_s", "time/wall_s")


def learning_metrics(records: list[Record]) -> list[dict[str, Any]]:
    """Records without the wall-clock entries (those legitimately differ between runs)."""
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in records]


class CrashAfter:
    """A sink that raises (like a crash) when it sees the given epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def log(self, record: Record) -> None:
        if record["epoch"] == self.epoch:
            raise KeyboardInterrupt

    def close(self) -> None:
        pass


def test_interrupted_then_resumed_run_matches_uninterrupted(
    tmp_path: Path, finished: runner.RunResult
) -> None:
    uninterrupted = finished.records
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        # Crashes while logging epoch 3: its record is written, its checkpoint is not.
        runner.train(four_epoch_config(run_dir), sinks=[CrashAfter(3)], verbose=False)
    assert Checkpointer(run_dir).epochs() == [1, 2]
    assert len(runner.load_records(run_dir)) == 3
    resumed = runner.resume(run_dir, sinks=[], verbose=False)
    assert [r["epoch"] for r in resumed.records] == [1, 2, 3, 4]
    # Same seed on the CPU: identical numbers, not merely close.
    assert learning_metrics(resumed.records) == learning_metrics(uninterrupted)
    on_disk = runner.load_records(run_dir)
    assert learning_metrics(on_disk) == learning_metrics(uninterrupted)
    # Wall clock continues from the checkpoint instead of restarting at zero.
    assert on_disk[2]["time/wall_s"] > on_disk[1]["time/wall_s"]


def test_resume_without_buffer_refills_it_and_keeps_the_agent(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = four_epoch_config(run_dir, checkpoint_buffer=False, checkpoint_every=2)
    with pytest.raises(KeyboardInterrupt):
        runner.train(cfg, sinks=[CrashAfter(3)], verbose=False)
    assert Checkpointer(run_dir).epochs() == [2]  # every 2nd epoch; epoch 3 crashed
    assert not (run_dir / "checkpoints" / "2" / "buffer").exists()
    assert (run_dir / "checkpoints" / "2" / "agent").is_dir()
    resumed = runner.resume(run_dir, sinks=[], verbose=False)
    assert [r["epoch"] for r in resumed.records] == [1, 2, 3, 4]
    assert resumed.final["env_steps"] == cfg.total_env_steps
    assert resumed.final["buffer/valid_fraction"] > 0.5  # the refilled buffer serves samples


def test_keeps_only_the_last_k_checkpoints(finished: runner.RunResult) -> None:
    assert TrainConfig().keep_checkpoints == 3
    assert Checkpointer(finished.run_dir).epochs() == [2, 3, 4]


def test_checkpoint_restores_every_leaf_exactly(tmp_path: Path) -> None:
    cfg = small_config(tmp_path / "run").with_episode_length(50)
    trainer = make_trainer(cfg, envs.make(cfg.env))
    key = jax.random.PRNGKey(3)
    ts = jax.jit(trainer.init)(key)
    ts, _ = jax.jit(trainer.train_epoch)(ts)
    from deepcrl.checkpoint import CheckpointMeta

    # A zero-size leaf in the env state, as MJX's data.act (orbax cannot write those).
    def with_empty(tree: Any, empty: Any) -> Any:
        env_state = tree.env_state
        return dataclasses.replace(
            tree, env_state=env_state.replace(info={**env_state.info, "empty": empty})
        )

    ts = with_empty(ts, jnp.zeros((cfg.num_envs, 0)))
    abstract = with_empty(
        abstract_state(trainer.init, key), jax.ShapeDtypeStruct((cfg.num_envs, 0), jnp.float32)
    )
    ckpt = Checkpointer(tmp_path / "run")
    ckpt.save(ts, CheckpointMeta(1, int(ts.env_steps), 1.0, True, cfg.to_dict()))
    restored, meta = ckpt.restore(abstract)
    assert meta.epoch == 1 and meta.config == cfg.to_dict()
    assert jax.tree.structure(restored) == jax.tree.structure(ts)
    for a, b in zip(jax.tree.leaves(ts), jax.tree.leaves(restored), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_loaded_policy_gives_identical_actions(finished: runner.RunResult) -> None:
    cfg = four_epoch_config(finished.run_dir).with_episode_length(50)
    trainer = make_trainer(cfg, envs.make(cfg.env))
    abstract = abstract_state(trainer.init, jax.random.PRNGKey(0))
    ts, _ = Checkpointer(finished.run_dir).restore(abstract)
    policy = load_policy(finished.run_dir)
    assert policy.epoch == 4 and policy.cfg.network.width == 32
    obs = jax.random.uniform(jax.random.PRNGKey(1), (32, 4), minval=-1.0, maxval=5.0)
    want = trainer.agent.greedy(ts.agent.actor_params, obs)
    got = policy.agent.greedy(policy.actor_params, obs)
    np.testing.assert_array_equal(np.asarray(want), np.asarray(got))


def poisoned(make: Any, from_train_step: int) -> Any:
    """A make_trainer whose epochs turn the actor's parameters into NaN from a step on."""

    def make_poisoned(*args: Any, **kwargs: Any) -> Trainer:
        trainer: Trainer = make(*args, **kwargs)

        def train_epoch(ts: TrainingState) -> tuple[TrainingState, dict]:
            ts, metrics = trainer.train_epoch(ts)
            bad = ts.train_steps >= from_train_step
            actor = jax.tree.map(lambda p: jnp.where(bad, jnp.nan, p), ts.agent.actor_params)
            ts = dataclasses.replace(ts, agent=ts.agent.replace(actor_params=actor))
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(ts)]))
            return ts, {**metrics, "training/params_finite": finite.astype(jnp.float32)}

        return dataclasses.replace(trainer, train_epoch=train_epoch)

    return make_poisoned


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    # Epochs have 2 training steps: the NaN appears at the end of epoch 3.
    monkeypatch.setattr(runner, "make_trainer", poisoned(make_trainer, from_train_step=6))
    with pytest.raises(DivergenceError, match="diverged in epoch 3: a network parameter"):
        runner.train(four_epoch_config(run_dir), sinks=[], verbose=False)
    ckpt = Checkpointer(run_dir)
    assert ckpt.epochs() == [1, 2]
    policy = load_policy(run_dir)
    assert policy.epoch == 2
    assert all(np.isfinite(np.asarray(p)).all() for p in jax.tree.leaves(policy.actor_params))


def test_divergence_message_names_a_nan_loss(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path)
    record = {
        "epoch": 7,
        "critic/loss": float("nan"),
        "actor/loss": 1.0,
        "alpha/loss": 0.0,
        "alpha": 0.1,
        "training/params_finite": 1.0,
    }
    with pytest.raises(DivergenceError, match=r"epoch 7: critic/loss is nan; no checkpoint"):
        runner.check_finite(record, ckpt)
    runner.check_finite({**record, "critic/loss": 2.0}, ckpt)  # finite: no error


KILL_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from deepcrl.runner import train
from helpers import small_config
cfg = small_config(Path({run_dir!r}), num_epochs=40, total_env_steps=16 * 10 * 2 * 40)
train(cfg, sinks=[], verbose=False)
"""


def test_sigkill_loses_nothing_beyond_the_last_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent), run_dir=str(run_dir))
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ})
    ckpt_dir = run_dir / "checkpoints"
    caught_mid_write = False
    deadline = time.monotonic() + 240
    try:
        # Wait for two complete checkpoints, then kill while the next one is being written
        # (an orbax temporary directory exists) or, failing that, right away.
        while time.monotonic() < deadline and proc.poll() is None:
            names = os.listdir(ckpt_dir) if ckpt_dir.is_dir() else []
            complete = [n for n in names if n.isdigit()]
            if len(complete) >= 2 and any("tmp" in n for n in names):
                caught_mid_write = True
                break
            if len(complete) >= 4:
                break
            time.sleep(0.0005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    epochs = Checkpointer(run_dir).epochs()
    assert len(epochs) >= 2
    # The same program as four_epoch_config (epochs of 2 training steps), only more epochs.
    cfg = small_config(run_dir, num_epochs=40, total_env_steps=16 * 10 * 2 * 40)
    trainer = make_trainer(cfg.with_episode_length(50), envs.make(cfg.env))
    ts, meta = Checkpointer(run_dir).restore(abstract_state(trainer.init, jax.random.PRNGKey(0)))
    assert meta.epoch == epochs[-1]
    assert int(ts.env_steps) == meta.epoch * cfg.env_steps_per_epoch
    # Resume to the end and compare with the same run done without a kill.
    resumed = runner.resume(run_dir, sinks=[], verbose=False)
    full = runner.train(
        dataclasses.replace(cfg, run_dir=tmp_path / "full"), sinks=[], verbose=False
    )
    assert learning_metrics(resumed.records) == learning_metrics(full.records)
    print(f"killed during a checkpoint write: {caught_mid_write}")


def test_unfinished_checkpoint_write_is_ignored(tmp_path: Path, finished: runner.RunResult) -> None:
    run_dir = copy_run(finished.run_dir, tmp_path)
    ckpt_dir = run_dir / "checkpoints"
    # What a write killed half-way leaves: a temporary directory with part of the files.
    partial = ckpt_dir / "5.orbax-checkpoint-tmp-1234567890"
    shutil.copytree(ckpt_dir / "4", partial)
    for path in sorted(partial.rglob("*"))[::2]:
        if path.is_file():
            path.unlink()
    assert Checkpointer(run_dir).latest_epoch() == 4
    assert load_policy(run_dir).epoch == 4


def test_corrupt_checkpoint_is_reported_with_the_fallback(
    tmp_path: Path, finished: runner.RunResult
) -> None:
    run_dir = copy_run(finished.run_dir, tmp_path)
    for path in (run_dir / "checkpoints" / "4").rglob("*"):
        if path.is_file() and path.name != "metadata":
            path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"unreadable.*fall back to epoch 3"):
        load_policy(run_dir)


def test_config_round_trips_through_json() -> None:
    cfg = small_config(Path("/tmp/x"), eval_env="point_u_maze_eval", tensorboard=True)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
