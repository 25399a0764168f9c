"""Config validation, derived schedule, and that every config field is actually read."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepcrl.agents.crl import CRLAgent, make_networks
from deepcrl.config import ConfigError, CRLConfig, NetworkConfig, TrainConfig

SRC = Path(__file__).resolve().parents[1] / "src" / "deepcrl"


def tiny(**overrides: object) -> TrainConfig:
    """A small valid config (episode length 20)."""
    base = TrainConfig(
        env="point_arena",
        episode_length=20,
        num_envs=8,
        unroll_length=10,
        sgd_steps=2,
        total_env_steps=8 * 10 * 3 * 2,
        num_epochs=2,
        prefill_steps=20,
        replay_capacity=100,
        num_eval_envs=4,
        network=NetworkConfig(depth=4, width=16, repr_dim=8),
        crl=CRLConfig(batch_size=16),
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def test_schedule_is_derived_exactly() -> None:
    cfg = tiny()
    cfg.validate()
    assert cfg.env_steps_per_train_step == 80
    assert cfg.train_steps_per_epoch == 3
    assert cfg.env_steps_per_epoch * cfg.num_epochs == cfg.total_env_steps
    assert cfg.update_to_data_ratio == pytest.approx(2 * 16 / 80)
    assert cfg.prefill_env_steps == 160


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"network": NetworkConfig(depth=6)}, "depth=6"),
        ({"network": NetworkConfig(depth=0)}, "depth=0"),
        ({"network": NetworkConfig(actor_depth=10)}, "actor_depth=10"),
        ({"network": NetworkConfig(critic_depth=3)}, "critic_depth=3"),
        ({"network": NetworkConfig(width=0)}, "width=0"),
        ({"total_env_steps": 500}, "use 480 or 640"),
        ({"total_env_steps": 0}, "total_env_steps=0"),
        ({"num_envs": -1}, "num_envs=-1"),
        ({"num_epochs": 0}, "num_epochs=0"),
        ({"sgd_steps": 0}, "sgd_steps=0"),
        ({"prefill_steps": 10}, "prefill_steps=10 is shorter than one episode"),
        ({"replay_capacity": 15, "prefill_steps": 20}, "replay_capacity=15"),
        ({"crl": CRLConfig(batch_size=1)}, "batch_size must be at least 2"),
        ({"crl": CRLConfig(batch_size=1000)}, "batch_size=1000 exceeds"),
        ({"crl": CRLConfig(discount=1.0)}, "discount=1.0"),
        ({"crl": CRLConfig(critic_lr=0.0)}, "critic_lr=0.0"),
        ({"crl": CRLConfig(logsumexp_penalty=-1.0)}, "logsumexp_penalty=-1.0"),
        ({"episode_length": 1}, "episode_length=1"),
        ({"devices": 0}, "devices=0"),
        ({"devices": 3}, "num_envs=8 does not split over 3 devices: use 6 or 9"),
        ({"devices": 16}, "num_envs=8 does not split over 16 devices: use 16 (or"),
        ({"devices": 8}, "num_eval_envs=4 does not split over 8 devices: use 8 (or"),
        ({"devices": 4, "crl": CRLConfig(batch_size=18)}, "batch_size=18 does not split"),
    ],
)
def test_bad_configs_are_rejected_with_a_clear_message(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        tiny(**overrides).validate()
    message = str(err.value)
    assert fragment in message
    assert "\n" not in message


def test_depth_error_suggests_a_valid_depth() -> None:
    with pytest.raises(ConfigError, match=r"try 8"):
        tiny(network=NetworkConfig(depth=7)).validate()


def test_actor_and_critic_towers_resolve_separately() -> None:
    net = NetworkConfig(depth=8, width=32, actor_depth=4, critic_width=64)
    assert (net.actor_tower.depth, net.actor_tower.width) == (4, 32)
    assert (net.critic_tower.depth, net.critic_tower.width) == (8, 64)
    assert net.critic_tower.num_blocks == 2


def _config_fields() -> list[str]:
    names = []
    for cls in (TrainConfig, NetworkConfig, CRLConfig):
        names += [f.name for f in dataclasses.fields(cls)]
    return names


def _attributes_read_outside_config() -> set[str]:
    read: set[str] = set()
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                if path.name == "config.py" and not _inside_property(tree, node):
                    continue
                read.add(node.attr)
    return read


def _inside_property(tree: ast.Module, target: ast.AST) -> bool:
    """Whether ``target`` sits in a method of config.py other than validate()."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef)
            and node.name not in ("validate", "to_dict")
            and any(child is target for child in ast.walk(node))
        ):
            return True
    return False


def test_every_config_field_is_read_by_the_code() -> None:
    read = _attributes_read_outside_config()
    unread = [name for name in _config_fields() if name not in read]
    assert not unread, f"config fields nobody reads: {unread}"


@pytest.mark.parametrize(
    "change",
    [
        {"network": {"residual": False}},
        {"network": {"layer_norm": False}},
        {"network": {"activation": "relu"}},
        {"network": {"remat": True}},
        {"network": {"scan_blocks": False}},
        {"network": {"scan_unroll": 2}},
        {"network": {"repr_dim": 2}},
        {"network": {"actor_depth": 4}},
        {"network": {"critic_width": 16}},
        {"crl": {"energy": "dot"}},
        {"crl": {"contrastive_loss": "binary_nce"}},
        {"crl": {"logsumexp_penalty": 0.5}},
        {"crl": {"actor_lr": 1e-3}},
        {"crl": {"critic_lr": 1e-3}},
        {"crl": {"alpha_lr": 1e-3}},
        {"crl": {"lr_schedule": "cosine"}},
        {"crl": {"target_entropy_scale": 1.0}},
        {"crl": {"actor_random_goals": 0.5}},
    ],
)
def test_network_and_objective_fields_change_the_compiled_update(change: dict) -> None:
    """Flipping one field must change the lowered SGD step (no dead knobs)."""
    net, crl = NetworkConfig(depth=8, width=8, repr_dim=4), CRLConfig(batch_size=4)

    def lowered(net: NetworkConfig, crl: CRLConfig) -> str:
        agent = CRLAgent(make_networks(net, 2, 2, 2), crl, total_sgd_steps=100)
        state = agent.init(jax.random.PRNGKey(0))
        batch = {"state": jnp.ones((4, 2)), "action": jnp.zeros((4, 2)), "goal": jnp.ones((4, 2))}
        return jax.jit(agent.update).lower(state, batch, jax.random.PRNGKey(1)).as_text()

    base = lowered(net, crl)
    net2 = dataclasses.replace(net, **change.get("network", {}))
    crl2 = dataclasses.replace(crl, **change.get("crl", {}))
    assert lowered(net2, crl2) != base


def test_cosine_schedule_takes_adam_steps_from_lr_down_to_a_tenth() -> None:
    """Adam's first step on a constant gradient is lr * sign(g); a cosine schedule over
    T SGD steps scales step t by 0.1 + 0.9 * (1 + cos(pi t / T)) / 2, so the last of
    T = 4 steps moves 0.1 + 0.9 * (1 + cos(3 pi / 4)) / 2 = 0.2318 of the first."""
    net = NetworkConfig(depth=4, width=8, repr_dim=4)
    agent = CRLAgent(make_networks(net, 2, 2, 2), CRLConfig(lr_schedule="cosine"), 4)
    actor_tx, critic_tx, alpha_tx = agent._optimizers
    for tx, lr in ((actor_tx, 3e-4), (critic_tx, 3e-4)):
        params = jnp.zeros(3)
        opt = tx.init(params)
        steps = []
        for _ in range(4):
            updates, opt = tx.update(jnp.ones(3), opt, params)
            steps.append(float(-updates[0]))
        expected = [lr * (0.1 + 0.9 * (1 + np.cos(np.pi * t / 4)) / 2) for t in range(4)]
        np.testing.assert_allclose(steps, expected, rtol=1e-3)
    updates, _ = alpha_tx.update(jnp.ones(()), alpha_tx.init(jnp.zeros(())), jnp.zeros(()))
    assert float(-updates) == pytest.approx(3e-4, rel=1e-3)  # alpha's rate stays constant
    with pytest.raises(ValueError, match="needs total_sgd_steps >= 1"):
        CRLAgent(agent.nets, CRLConfig(lr_schedule="cosine"))
