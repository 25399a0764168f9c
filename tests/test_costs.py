"""Analytic parameter and FLOP counts against hand counts, the real networks and XLA."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from deepcrl.agents.crl import CRLAgent, make_networks, param_counts
from deepcrl.config import CRLConfig, NetworkConfig, TrainConfig
from deepcrl.costs import network_params, run_cost, sgd_step_flops, task_dims, time_estimate_s
from deepcrl.paper import HUMANOID, TaskDims

TINY = TaskDims(state_dim=2, goal_dim=2, action_dim=2, episode_length=20)


def test_flops_of_a_tiny_net_match_a_hand_count() -> None:
    cfg = TrainConfig(
        network=NetworkConfig(depth=4, width=8, repr_dim=4), crl=CRLConfig(batch_size=4)
    )
    # Per-example forward FLOPs, 2 per multiply-add:
    actor = 2 * (4 * 8 + 4 * 8 * 8) + 2 * 2 * (8 * 2)  # tower on (s, g) + mean/log_std heads
    sa = 2 * (4 * 8 + 4 * 8 * 8) + 2 * 8 * 4  # tower on (s, a) + Dense(repr_dim)
    g = 2 * (2 * 8 + 4 * 8 * 8) + 2 * 8 * 4  # tower on g + Dense(repr_dim)
    assert (actor, sa, g) == (640, 640, 608)
    # 3 actor + 5 phi + 4 psi passes per example, plus the l2 energy matrix (3 B^2 R, x3).
    expected = 4 * (3 * actor + 5 * sa + 4 * g) + 3 * 3 * 4 * 4 * 4
    assert sgd_step_flops(cfg, TINY) == expected == 30784
    dot = TrainConfig(network=cfg.network, crl=CRLConfig(batch_size=4, energy="dot"))
    assert sgd_step_flops(dot, TINY) == expected - 3 * 4 * 4 * 4


@pytest.mark.parametrize(
    "net",
    [
        NetworkConfig(depth=4, width=8, repr_dim=4),
        NetworkConfig(depth=8, width=16, layer_norm=False),
        NetworkConfig(depth=8, width=16, actor_depth=4, critic_width=24),
    ],
)
def test_analytic_param_counts_match_the_networks(net: NetworkConfig) -> None:
    dims = TaskDims(state_dim=5, goal_dim=3, action_dim=2, episode_length=20)
    agent = CRLAgent(make_networks(net, 5, 2, 3), CRLConfig())
    real = param_counts(jax.eval_shape(agent.init, jax.random.PRNGKey(0)))
    assert network_params(TrainConfig(network=net), dims) == real


def test_hand_count_of_tiny_params() -> None:
    counts = network_params(TrainConfig(network=NetworkConfig(depth=4, width=8, repr_dim=4)), TINY)
    # input Dense 4*8+8 + LN 16; 4 block layers of 64+8+16; heads 2*(8*2+2).
    assert counts["actor"] == (32 + 8 + 16) + 4 * (64 + 8 + 16) + 2 * (16 + 2) == 444
    assert counts["g_encoder"] == (16 + 8 + 16) + 4 * 88 + (32 + 4) == 428


def test_depth_grows_params_linearly_and_width_quadratically() -> None:
    def total(depth: int, width: int) -> int:
        net = NetworkConfig(depth=depth, width=width)
        return network_params(TrainConfig(network=net), HUMANOID)["total"]

    step = total(8, 256) - total(4, 256)
    assert total(16, 256) - total(12, 256) == step  # linear in depth
    assert total(4, 1024) / total(4, 512) > 3.0  # ~quadratic in width


def test_analytic_flops_agree_with_xla_cost_analysis_on_an_unrolled_tower() -> None:
    """XLA counts a scan body once, so compare with the Python-unrolled tower; XLA also
    counts elementwise ops, so allow it up to 30% more."""
    net = NetworkConfig(depth=8, width=128, repr_dim=16, scan_blocks=False)
    cfg = TrainConfig(network=net, crl=CRLConfig(batch_size=128))
    dims = TaskDims(state_dim=4, goal_dim=2, action_dim=2, episode_length=20)
    agent = CRLAgent(make_networks(net, 4, 2, 2), cfg.crl)
    state = agent.init(jax.random.PRNGKey(0))
    batch = {"state": jnp.ones((128, 4)), "action": jnp.zeros((128, 2)), "goal": jnp.ones((128, 2))}
    analysis = jax.jit(agent.update).lower(state, batch, jax.random.PRNGKey(1)).compile()
    cost = analysis.cost_analysis()
    xla = (cost[0] if isinstance(cost, list) else cost)["flops"]
    assert 1.0 <= xla / sgd_step_flops(cfg, dims) <= 1.3


def test_run_cost_counts_every_sgd_step_and_the_estimate_is_positive() -> None:
    cfg = TrainConfig()  # the CPU demo: 15 epochs x 32 SGD steps x 32 training steps
    cost = run_cost(cfg, task_dims(cfg.env))
    assert cost.sgd_steps == cfg.sgd_steps * cfg.train_steps_per_epoch * cfg.num_epochs == 15360
    assert cost.total_flops > cost.flops_per_sgd_step * cost.sgd_steps
    assert 60 < time_estimate_s(cost, cfg, "cpu") < 3600


def test_unregistered_paper_tasks_have_known_shapes() -> None:
    assert task_dims("humanoid_u_maze") == HUMANOID
