"""Analytic parameter counts, FLOPs per SGD step, memory and wall-clock estimates of a run.

Everything here is arithmetic on the config and the task's shapes, so a plan (and a
preset's GPU-hour estimate) is instant even for depth 1024 or for tasks not registered yet.

FLOPs count the matrix products, 2 FLOPs per multiply-add. A tower with input size ``n``,
width ``w`` and depth ``d`` costs ``2 (n w + d w^2)`` FLOPs per example forward; the critic
encoders add their output layer ``2 w R`` (R = repr_dim), the actor its two heads
``2 * 2 w A``. One SGD step on a minibatch of B (backward = 2x forward for weight and input
gradients, 1x for input gradients only):

    actor loss:  actor fwd + bwd           3 F_actor
                 phi(s, pi) fwd + input bwd 2 F_sa      (critic weights are constants here)
                 psi(g) fwd                 1 F_g
    critic loss: phi(s, a) fwd + bwd       3 F_sa
                 psi(g) fwd + bwd          3 F_g
                 energy matrix fwd + bwd   3 c B^2 R    (c = 3 for l2 / l2_squared: subtract,
                                                         square, add; 2 for dot / cosine)

    FLOPs per SGD step = B (3 F_actor + 5 F_sa + 4 F_g) + 3 c B^2 R

with F_* per-example forward FLOPs. LayerNorm, activations, the logsumexp and Adam are
O(B w d + params) and left out (a few percent at width >= 64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from deepcrl.config import BLOCK_LAYERS, TowerConfig, TrainConfig
from deepcrl.paper import TaskDims

Device = Literal["cpu", "gpu"]

# ---- calibration of the wall-clock model (see time_estimate_s) ----------------------------
EFFECTIVE_FLOPS: dict[Device, float] = {"cpu": 8.0e10, "gpu": 3.5e12}
"""Sustained FLOP/s of whole training epochs. CPU (2 cores): the default job (1.69 GFLOP per
SGD step x 15,360 steps in 5 min 15 s, 85 GFLOP/s) and benchmarks/results/throughput.md
(79-87 GFLOP/s at depth 4-64, width 256). GPU: fitted to the paper's humanoid wall clocks
(1.5 h at depth 4, 11 h at depth 64, 100 epochs, one 80 GB GPU; FACTS.md section 6) assuming
100M env steps; it then predicts 146 h for 1024 layers on humanoid_u_maze (paper: 134 h)."""
ENV_STEPS_PER_S: dict[Device, float] = {"cpu": 3.0e6, "gpu": 4.0e4}
"""Env steps per second outside the networks. CPU: the pure-JAX point mass; GPU: Brax
humanoid, from the same fit (ant and arm tasks are faster)."""
COMPILE_S: dict[Device, float] = {"cpu": 15.0, "gpu": 60.0}
"""Fixed cost per process: start-up, prefill and compiling the epoch and the evaluator."""


@dataclass(frozen=True)
class RunCost:
    """What one run of a config costs, by arithmetic."""

    params: dict[str, int]
    """Parameter counts: actor, sa_encoder, g_encoder, total."""
    flops_per_sgd_step: int
    """Matrix-product FLOPs of one SGD step (formula in the module docstring)."""
    sgd_steps: int
    """SGD steps of the whole run."""
    total_flops: float
    """SGD plus acting (collection, prefill, evaluation) FLOPs of the whole run."""
    memory_bytes: int
    """Rough peak memory of one seed: parameters, Adam state, buffer, activations."""

    def seconds(self, cfg: TrainConfig, device: Device) -> float:
        """Estimated wall clock of one seed on ``device`` (see time_estimate_s)."""
        return time_estimate_s(self, cfg, device)


def task_dims(env: str) -> TaskDims:
    """Shapes of a registered task (built: a Brax or MJX model loads in under a second)."""
    from deepcrl.envs.registry import get_spec

    e = get_spec(env).factory()
    return TaskDims(e.state_dim, e.goal_dim, e.action_dim, e.default_episode_length)


def tower_params(in_dim: int, tower: TowerConfig) -> int:
    """Scalars in a tower: input Dense (+ LayerNorm) and depth Dense (+ LayerNorm) layers."""
    w = tower.width
    per_layer_norm = 2 * w if tower.layer_norm else 0
    first = in_dim * w + w + per_layer_norm
    return first + tower.depth * (w * w + w + per_layer_norm)


def tower_flops(in_dim: int, tower: TowerConfig) -> int:
    """Matrix-product FLOPs of one example through a tower, forward: 2 (n w + d w^2)."""
    w = tower.width
    return 2 * (in_dim * w + tower.depth * w * w)


def network_params(cfg: TrainConfig, dims: TaskDims) -> dict[str, int]:
    """Parameter counts of actor, phi(s, a), psi(g) and their total (matches param_counts)."""
    net = cfg.network
    a, c, r = net.actor_tower, net.critic_tower, net.repr_dim
    act = dims.action_dim
    counts = {
        "actor": tower_params(dims.state_dim + dims.goal_dim, a) + 2 * (a.width * act + act),
        "sa_encoder": tower_params(dims.state_dim + act, c) + c.width * r + r,
        "g_encoder": tower_params(dims.goal_dim, c) + c.width * r + r,
    }
    counts["total"] = sum(counts.values())
    return counts


def forward_flops(cfg: TrainConfig, dims: TaskDims) -> dict[str, int]:
    """Per-example forward FLOPs of actor, phi(s, a) and psi(g)."""
    net = cfg.network
    a, c, r = net.actor_tower, net.critic_tower, net.repr_dim
    return {
        "actor": tower_flops(dims.state_dim + dims.goal_dim, a) + 4 * a.width * dims.action_dim,
        "sa_encoder": tower_flops(dims.state_dim + dims.action_dim, c) + 2 * c.width * r,
        "g_encoder": tower_flops(dims.goal_dim, c) + 2 * c.width * r,
    }


def sgd_step_flops(cfg: TrainConfig, dims: TaskDims) -> int:
    """FLOPs of one SGD step: B (3 F_actor + 5 F_sa + 4 F_g) + 3 c B^2 R."""
    f = forward_flops(cfg, dims)
    b, r = cfg.crl.batch_size, cfg.network.repr_dim
    c = 3 if cfg.crl.energy in ("l2", "l2_squared") else 2
    return b * (3 * f["actor"] + 5 * f["sa_encoder"] + 4 * f["g_encoder"]) + 3 * c * b * b * r


def _saved_layers(tower: TowerConfig) -> int:
    """Layer outputs kept for the backward pass (remat keeps block inputs plus one block)."""
    if tower.remat:
        return tower.num_blocks + BLOCK_LAYERS + 1
    return tower.depth + 1


def memory_estimate_bytes(cfg: TrainConfig, dims: TaskDims) -> int:
    """Rough peak bytes of one seed (float32).

    Parameters, gradients and Adam's two moments (4 x params); the replay buffer (state,
    action and trajectory id per stored step); the sampled minibatches of one training
    step; and the activations the backward pass keeps (4 arrays of B x width per layer, for
    the actor, phi(s, a) twice and psi(g)).
    """
    params = network_params(cfg, dims)["total"]
    buffer = cfg.num_envs * cfg.replay_capacity * (dims.state_dim + dims.action_dim + 1)
    data = 2 * cfg.sgd_steps * cfg.crl.batch_size * (dims.state_dim + dims.action_dim + 4)
    net = cfg.network
    a, c = net.actor_tower, net.critic_tower
    acts = cfg.crl.batch_size * 4 * (a.width * _saved_layers(a) + 3 * c.width * _saved_layers(c))
    return 4 * (4 * params + buffer + data + acts)


def run_cost(cfg: TrainConfig, dims: TaskDims) -> RunCost:
    """Parameters, FLOPs and memory of one run of ``cfg`` on a task of shape ``dims``."""
    cfg = cfg.with_episode_length(dims.episode_length)
    per_step = sgd_step_flops(cfg, dims)
    sgd_steps = cfg.total_sgd_steps
    acting = forward_flops(cfg, dims)["actor"] * (
        cfg.total_env_steps
        + cfg.prefill_env_steps
        + cfg.num_epochs * cfg.num_eval_envs * cfg.resolved_episode_length
    )
    return RunCost(
        params=network_params(cfg, dims),
        flops_per_sgd_step=per_step,
        sgd_steps=sgd_steps,
        total_flops=float(per_step) * sgd_steps + acting,
        memory_bytes=memory_estimate_bytes(cfg, dims),
    )


def time_estimate_s(cost: RunCost, cfg: TrainConfig, device: Device) -> float:
    """Wall seconds of one seed: COMPILE_S + FLOPs / EFFECTIVE_FLOPS + env steps / ENV_STEPS_PER_S.

    A coarse model (small matrices run far below peak; see the calibration constants): use it
    to size a sweep, not to compare hardware.
    """
    env_steps = cfg.total_env_steps + cfg.prefill_env_steps
    return (
        COMPILE_S[device]
        + cost.total_flops / EFFECTIVE_FLOPS[device]
        + env_steps / ENV_STEPS_PER_S[device]
    )


def current_device() -> Device:
    """'gpu' when JAX's default backend is an accelerator, else 'cpu'."""
    import jax

    return "cpu" if jax.default_backend() == "cpu" else "gpu"


def format_flops(flops: float) -> str:
    """FLOPs with an SI prefix (e.g. 4.1 GFLOP)."""
    if flops <= 0:
        return "0 FLOP"
    exp = min(int(math.log10(flops) // 3), 6)
    prefix = ["", "k", "M", "G", "T", "P", "E"][exp]
    return f"{flops / 10 ** (3 * exp):.3g} {prefix}FLOP"


def format_seconds(seconds: float) -> str:
    """Seconds as s / min / h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
