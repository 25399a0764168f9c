"""Multi-device checks run in a fresh process (fake CPU devices must be set before JAX starts).

Usage: ``python tests/parallel_cases.py CASE [JSON_ARGS]`` with XLA_FLAGS set, e.g.
``--xla_force_host_platform_device_count=4``. Prints one JSON line (the case's result) last.
tests/test_parallel.py launches these; they are not collected by pytest themselves.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from deepcrl import envs, parallel
from deepcrl.config import CRLConfig, NetworkConfig, TrainConfig
from deepcrl.training import Trainer, make_trainer

CASES: dict[str, Callable[..., dict[str, Any]]] = {}


def case(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Register a case by its function name."""
    CASES[fn.__name__] = fn
    return fn


def small_config(**overrides: Any) -> TrainConfig:
    """A seconds-long run on the open arena (32 envs, batch 32: splits over 1, 2 and 4)."""
    cfg = TrainConfig(
        env="point_arena",
        num_envs=32,
        unroll_length=10,
        sgd_steps=4,
        total_env_steps=32 * 10 * 2 * 2,
        num_epochs=2,
        prefill_steps=50,
        replay_capacity=120,
        num_eval_envs=16,
        network=NetworkConfig(depth=4, width=32, repr_dim=16),
        crl=CRLConfig(batch_size=32),
        progress=False,
    )
    return dataclasses.replace(cfg, **overrides)


def trainer_on(devices: int, cfg: TrainConfig | None = None) -> Trainer:
    """The trainer of ``cfg`` on the first ``devices`` devices."""
    cfg = small_config() if cfg is None else cfg
    return make_trainer(cfg, envs.make(cfg.env), mesh=parallel.make_mesh(devices))


def max_diffs(a: Any, b: Any) -> dict[str, float]:
    """Largest absolute difference per leaf path between two pytrees of arrays."""
    flat_a = jax.tree_util.tree_flatten_with_path(a)[0]
    flat_b = jax.tree.leaves(b)
    out = {}
    for (path, x), y in zip(flat_a, flat_b, strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        out[jax.tree_util.keystr(path)] = float(np.max(np.abs(x - y))) if x.size else 0.0
    return out


@case
def sgd_step(device_counts: list[int]) -> dict[str, Any]:
    """Two SGD steps on the same global batch and key, on each device count.

    Returns, per device count > 1, the largest difference from one device in the agent
    state (parameters AND Adam moments: Adam's update hardly changes when gradients are
    scaled, but its first moment scales with them) and in the metrics.
    """
    rng = np.random.default_rng(0)
    sgd_steps, batch = 2, 32
    host_batch = {
        "state": rng.normal(size=(sgd_steps, batch, 2)).astype(np.float32),
        "action": rng.uniform(-1, 1, size=(sgd_steps, batch, 2)).astype(np.float32),
        "goal": rng.normal(size=(sgd_steps, batch, 2)).astype(np.float32),
    }
    results = {}
    for n in device_counts:
        trainer = trainer_on(n)
        mesh = trainer.mesh
        agent = jax.device_put(
            jax.jit(trainer.agent.init)(jax.random.PRNGKey(1)), parallel.replicated(mesh)
        )
        minibatches = jax.device_put(host_batch, parallel.split(mesh, axis=1))
        new_agent, metrics = jax.jit(trainer.sgd)(agent, minibatches, jax.random.PRNGKey(2))
        results[n] = (parallel.to_host(new_agent), parallel.to_host(metrics))
        # The parameters leave the step replicated, not split.
        leaf = jax.tree.leaves(new_agent.critic_params)[0]
        assert leaf.sharding.is_fully_replicated, leaf.sharding
    ref_agent, ref_metrics = results[device_counts[0]]
    out: dict[str, Any] = {}
    for n in device_counts[1:]:
        agent, metrics = results[n]
        out[str(n)] = {
            "state": max(max_diffs(ref_agent, agent).values()),
            "metrics": max(max_diffs(ref_metrics, metrics).values()),
            "state_scale": max(float(np.max(np.abs(x))) for x in jax.tree.leaves(ref_agent)),
            # Summed gradients would be off by (n - 1) * |mu| in the Adam first moments.
            "mu_scale": max(
                float(np.max(np.abs(x)))
                for path, x in jax.tree_util.tree_flatten_with_path(ref_agent)[0]
                if ".mu" in jax.tree_util.keystr(path)
            ),
        }
    return out


@case
def init_everywhere(device_counts: list[int]) -> dict[str, Any]:
    """init (agent, prefill collection, buffer) on each device count vs the first."""
    states = {}
    for n in device_counts:
        trainer = trainer_on(n)
        ts = jax.jit(trainer.init)(jax.random.PRNGKey(0))
        layout = ts.buffer.data["state"]
        assert layout.sharding.is_equivalent_to(parallel.split(trainer.mesh), layout.ndim)
        assert len(layout.sharding.device_set) == n
        states[n] = parallel.to_host(ts)
    ref = states[device_counts[0]]
    return {str(n): max(max_diffs(ref, states[n]).values()) for n in device_counts[1:]}


@case
def collectives(devices: int) -> dict[str, Any]:
    """Result shapes of every cross-device collective in the compiled epoch."""
    # Sizes that no parameter or batch dimension shares: 24 envs, 120 steps per env.
    cfg = small_config(num_envs=24, total_env_steps=24 * 10 * 2 * 2, replay_capacity=120)
    trainer = trainer_on(devices, cfg)
    ts = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    text = jax.jit(trainer.train_epoch, donate_argnums=0).lower(ts).compile().as_text()
    ops = "all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter"
    shapes = []
    for line in text.splitlines():
        match = re.search(rf"= (.*?) ({ops})(-start)?\(", line)
        if match:
            shapes += [
                [int(d) for d in dims.split(",") if d]
                for dims in re.findall(r"\w+\[([\d,]*)\]", match.group(1))
            ]
    cfg = trainer.cfg
    return {"shapes": shapes, "num_envs": cfg.num_envs, "capacity": cfg.replay_capacity}


@case
def learns(devices: int, seed: int = 1) -> dict[str, Any]:
    """A short run on ``devices`` devices: eval before and after, and the final sharding."""
    cfg = small_config(
        num_envs=32,
        sgd_steps=16,
        total_env_steps=32 * 10 * 30 * 4,
        num_epochs=4,
        replay_capacity=200,
        num_eval_envs=64,
        crl=CRLConfig(batch_size=64, actor_lr=1e-3, critic_lr=1e-3, alpha_lr=3e-3),
        network=NetworkConfig(depth=4, width=64, repr_dim=16),
    )
    trainer = trainer_on(devices, cfg)
    ts = jax.jit(trainer.init)(jax.random.PRNGKey(seed))
    evaluate = jax.jit(trainer.evaluate)
    before = parallel.to_host(evaluate(ts, jax.random.PRNGKey(2)))
    epoch = jax.jit(trainer.train_epoch, donate_argnums=0)
    for _ in range(cfg.num_epochs):
        ts, metrics = epoch(ts)
    after = parallel.to_host(evaluate(ts, jax.random.PRNGKey(2)))
    return {
        "before": {k: float(v) for k, v in before.items()},
        "after": {k: float(v) for k, v in after.items()},
        "critic_loss": float(metrics["critic/loss"]),
        "buffer_devices": len(ts.buffer.data["state"].sharding.device_set),
    }


@case
def resume(devices_from: int, devices_to: int, run_dir: str) -> dict[str, Any]:
    """Train with checkpoints on N devices, restore the checkpoint onto M, resume the run."""
    import shutil
    from pathlib import Path

    from deepcrl import runner
    from deepcrl.checkpoint import Checkpointer, abstract_state

    cfg = small_config(run_dir=Path(run_dir), devices=devices_from)
    runner.train(cfg, sinks=[], verbose=False)

    def restore_on(devices: int) -> Any:
        trainer = trainer_on(devices, cfg)
        target = parallel.abstract_on(
            trainer.mesh, abstract_state(trainer.init, jax.random.PRNGKey(0))
        )
        return Checkpointer(Path(run_dir)).restore(target, epoch=1)[0]

    on_n, on_m = restore_on(devices_from), restore_on(devices_to)
    shutil.rmtree(Path(run_dir) / "checkpoints" / "2")  # as if the run had stopped after epoch 1
    resumed = runner.resume(Path(run_dir), sinks=[], verbose=False, devices=devices_to)
    return {
        "restored_diff": max(max_diffs(parallel.to_host(on_n), parallel.to_host(on_m)).values()),
        "buffer_devices": len(on_m.buffer.data["state"].sharding.device_set),
        "epochs": [r["epoch"] for r in resumed.records],
        "env_steps": resumed.records[-1]["env_steps"],
        "total_env_steps": cfg.total_env_steps,
        "finite": bool(all(np.isfinite(float(v)) for v in resumed.records[-1].values())),
    }


def main() -> None:
    """Run the case named on the command line and print its JSON result."""
    name = sys.argv[1]
    kwargs = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    result = CASES[name](**kwargs)
    print(json.dumps({"devices": jax.device_count(), **result}))


if __name__ == "__main__":
    main()
