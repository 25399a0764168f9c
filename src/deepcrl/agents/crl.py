"""Online contrastive RL: agent state, policy and one SGD step (actor + alpha, then critic)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from deepcrl.config import CRLConfig, NetworkConfig
from deepcrl.losses import actor_loss, alpha_loss, contrastive_loss, energy_matrix, energy_pairs
from deepcrl.networks import Actor, Encoder, count_params, sample_tanh_gaussian

Params = Any
Batch = dict[str, jax.Array]
"""A minibatch: "state" (B, state_dim), "action" (B, action_dim), "goal" (B, goal_dim)."""


@struct.dataclass
class CRLState:
    """Everything the CRL update changes."""

    actor_params: Params
    critic_params: Params
    """{"sa_encoder": phi(s, a) params, "g_encoder": psi(g) params}."""
    log_alpha: jax.Array
    actor_opt: optax.OptState
    critic_opt: optax.OptState
    alpha_opt: optax.OptState


@dataclass(frozen=True)
class CRLNetworks:
    """The three networks of CRL and the sizes they were built for."""

    actor: Actor
    sa_encoder: Encoder
    g_encoder: Encoder
    state_dim: int
    action_dim: int
    goal_dim: int


def make_networks(
    net: NetworkConfig, state_dim: int, action_dim: int, goal_dim: int
) -> CRLNetworks:
    """Build actor pi(a|s,g), phi(s,a) and psi(g) from the network config."""
    return CRLNetworks(
        actor=Actor(net.actor_tower, action_dim),
        sa_encoder=Encoder(net.critic_tower, net.repr_dim),
        g_encoder=Encoder(net.critic_tower, net.repr_dim),
        state_dim=state_dim,
        action_dim=action_dim,
        goal_dim=goal_dim,
    )


def param_counts(state: CRLState) -> dict[str, int]:
    """Parameter counts of the actor, each critic encoder, and in total."""
    counts = {
        "actor": count_params(state.actor_params),
        "sa_encoder": count_params(state.critic_params["sa_encoder"]),
        "g_encoder": count_params(state.critic_params["g_encoder"]),
    }
    counts["total"] = sum(counts.values())
    return counts


@dataclass(frozen=True)
class CRLAgent:
    """Pure functions of contrastive RL, closed over static shapes and hyper-parameters only."""

    nets: CRLNetworks
    cfg: CRLConfig
    total_sgd_steps: int = 0
    """SGD steps of the whole run: the length of a decaying learning-rate schedule."""

    def __post_init__(self) -> None:
        if self.cfg.lr_schedule != "constant" and self.total_sgd_steps < 1:
            raise ValueError(
                f"lr_schedule={self.cfg.lr_schedule!r} needs total_sgd_steps >= 1, "
                f"got {self.total_sgd_steps}"
            )

    def learning_rate(self, base: float) -> optax.ScalarOrSchedule:
        """``base`` as the configured schedule over the run's SGD steps."""
        if self.cfg.lr_schedule == "cosine":
            return optax.cosine_decay_schedule(base, self.total_sgd_steps, alpha=0.1)
        return base

    @property
    def _optimizers(self) -> tuple[optax.GradientTransformation, ...]:
        c = self.cfg
        return (
            optax.adam(self.learning_rate(c.actor_lr)),
            optax.adam(self.learning_rate(c.critic_lr)),
            optax.adam(c.alpha_lr),
        )

    @property
    def target_entropy(self) -> float:
        """-scale * action_dim."""
        return -self.cfg.target_entropy_scale * self.nets.action_dim

    def init(self, key: jax.Array) -> CRLState:
        """Fresh parameters and optimiser states."""
        n = self.nets
        k_actor, k_sa, k_g = jax.random.split(key, 3)
        actor_params = n.actor.init(k_actor, jnp.zeros((1, n.state_dim + n.goal_dim)))
        critic_params = {
            "sa_encoder": n.sa_encoder.init(k_sa, jnp.zeros((1, n.state_dim + n.action_dim))),
            "g_encoder": n.g_encoder.init(k_g, jnp.zeros((1, n.goal_dim))),
        }
        log_alpha = jnp.zeros((), jnp.float32)
        actor_tx, critic_tx, alpha_tx = self._optimizers
        return CRLState(
            actor_params=actor_params,
            critic_params=critic_params,
            log_alpha=log_alpha,
            actor_opt=actor_tx.init(actor_params),
            critic_opt=critic_tx.init(critic_params),
            alpha_opt=alpha_tx.init(log_alpha),
        )

    def actor_dist(self, actor_params: Params, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Pre-tanh Gaussian (mean, log_std), each (..., action_dim)."""
        mean, log_std = self.nets.actor.apply(actor_params, obs)
        return mean, log_std  # type: ignore[return-value]

    def act(
        self, actor_params: Params, obs: jax.Array, key: jax.Array, deterministic: bool
    ) -> jax.Array:
        """Actions in [-1, 1] for obs (..., state_dim + goal_dim): sampled, or tanh(mean)."""
        mean, log_std = self.actor_dist(actor_params, obs)
        if deterministic:
            return jnp.tanh(mean)
        action, _ = sample_tanh_gaussian(key, mean, log_std)
        return action

    def greedy(self, actor_params: Params, obs: jax.Array) -> jax.Array:
        """Deterministic actions tanh(mean) (..., action_dim): the evaluation policy."""
        return self.act(actor_params, obs, jax.random.PRNGKey(0), deterministic=True)

    def critic_embeddings(
        self, critic_params: Params, state: jax.Array, action: jax.Array, goal: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """phi(s, a): (B, repr_dim) and psi(g): (B, repr_dim)."""
        n = self.nets
        phi = n.sa_encoder.apply(critic_params["sa_encoder"], jnp.concatenate([state, action], -1))
        psi = n.g_encoder.apply(critic_params["g_encoder"], goal)
        return phi, psi  # type: ignore[return-value]

    def update(self, state: CRLState, batch: Batch, key: jax.Array) -> tuple[CRLState, dict]:
        """One SGD step: actor and alpha on the current critic, then the critic."""
        actor_tx, critic_tx, alpha_tx = self._optimizers
        s, a, g = batch["state"], batch["action"], batch["goal"]
        alpha = jnp.exp(state.log_alpha)
        key_action, key_goals = jax.random.split(key)
        # Actor goals: the relabelled goal, or with prob. actor_random_goals the next row's.
        swap = jax.random.uniform(key_goals, (g.shape[0], 1)) < self.cfg.actor_random_goals
        g_actor = jnp.where(swap, jnp.roll(g, 1, axis=0), g)

        def actor_objective(actor_params: Params) -> tuple[jax.Array, tuple[dict, jax.Array]]:
            obs = jnp.concatenate([s, g_actor], -1)
            mean, log_std = self.actor_dist(actor_params, obs)
            action, log_prob = sample_tanh_gaussian(key_action, mean, log_std)
            phi, psi = self.critic_embeddings(state.critic_params, s, action, g_actor)
            q = energy_pairs(phi, psi, self.cfg.energy)  # (B,) f(s_i, pi(s_i, g_i), g_i)
            loss, info = actor_loss(log_prob, q, alpha)
            return loss, (info, log_prob)

        actor_grads, (actor_info, log_prob) = jax.grad(actor_objective, has_aux=True)(
            state.actor_params
        )
        updates, actor_opt = actor_tx.update(actor_grads, state.actor_opt, state.actor_params)
        actor_params = optax.apply_updates(state.actor_params, updates)

        alpha_grad, alpha_info = jax.grad(alpha_loss, has_aux=True)(
            state.log_alpha, log_prob, self.target_entropy
        )
        updates, alpha_opt = alpha_tx.update(alpha_grad, state.alpha_opt, state.log_alpha)
        log_alpha = optax.apply_updates(state.log_alpha, updates)

        def critic_objective(critic_params: Params) -> tuple[jax.Array, dict]:
            phi, psi = self.critic_embeddings(critic_params, s, a, g)
            logits = energy_matrix(phi, psi, self.cfg.energy)  # (B, B)
            return contrastive_loss(logits, self.cfg.contrastive_loss, self.cfg.logsumexp_penalty)

        critic_grads, critic_info = jax.grad(critic_objective, has_aux=True)(state.critic_params)
        updates, critic_opt = critic_tx.update(critic_grads, state.critic_opt, state.critic_params)
        critic_params = optax.apply_updates(state.critic_params, updates)

        new_state = CRLState(
            actor_params=actor_params,
            critic_params=critic_params,
            log_alpha=log_alpha,
            actor_opt=actor_opt,
            critic_opt=critic_opt,
            alpha_opt=alpha_opt,
        )
        return new_state, {**actor_info, **alpha_info, **critic_info}
