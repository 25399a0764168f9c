"""The trainer: one jitted epoch = lax.scan over training steps.

A training step collects an unroll in every env with the stochastic policy, writes it to
the replay buffer, draws sgd_steps * batch_size relabelled transitions and runs a lax.scan
of SGD steps over them. Every array the epoch touches is an argument (never a closure
constant), so the same compiled program serves every epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from deepcrl import buffer as rb
from deepcrl.agents.crl import CRLAgent, CRLState, make_networks
from deepcrl.config import ConfigError, TrainConfig
from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.wrappers import wrap_for_training
from deepcrl.evaluate import make_evaluator

Metrics = dict[str, jax.Array]


@struct.dataclass
class TrainingState:
    """Complete state of a run; per-env leaves (env states, buffer) have the env axis first."""

    agent: CRLState
    env_state: EnvState
    buffer: rb.BufferState
    key: jax.Array
    env_steps: jax.Array
    """() int32 env steps collected by training so far (prefill excluded)."""
    train_steps: jax.Array
    """() int32 training steps done so far."""


@dataclass(frozen=True)
class Trainer:
    """Pure functions of one configured run; jit them at the top."""

    cfg: TrainConfig
    env: GoalEnv
    agent: CRLAgent
    init: Callable[[jax.Array], TrainingState]
    """Fresh agent, env states and a prefilled buffer."""
    refill: Callable[[TrainingState], TrainingState]
    """The same state with a fresh buffer prefilled by its own policy (resume without a
    stored buffer)."""
    train_epoch: Callable[[TrainingState], tuple[TrainingState, Metrics]]
    """train_steps_per_epoch training steps; metrics averaged over them."""
    evaluate: Callable[[TrainingState, jax.Array], Metrics]
    """Deterministic-policy evaluation metrics."""


def check_eval_env(env: GoalEnv, eval_env: GoalEnv, name: str) -> None:
    """Reject an evaluation task whose observations or actions differ from the training task."""
    shape = lambda e: (e.state_dim, e.goal_indices, e.action_dim)
    if shape(env) != shape(eval_env):
        raise ConfigError(
            f"eval_env={name} has (state_dim, goal_indices, action_dim) {shape(eval_env)} but "
            f"the training task has {shape(env)}: choose a layout of the same task"
        )


def make_trainer(cfg: TrainConfig, env: GoalEnv, eval_env: GoalEnv | None = None) -> Trainer:
    """Build the pure init / train_epoch / evaluate functions for a validated config.

    ``eval_env`` (default: ``env``) is the task evaluated after each epoch.
    """
    cfg = cfg.with_episode_length(env.default_episode_length)
    cfg.validate()
    eval_env = env if eval_env is None else eval_env
    check_eval_env(env, eval_env, cfg.eval_env or cfg.env)
    episode_length = cfg.resolved_episode_length
    nets = make_networks(cfg.network, env.state_dim, env.action_dim, env.goal_dim)
    agent = CRLAgent(nets, cfg.crl)
    train_env = wrap_for_training(env, episode_length, cfg.num_envs)
    batch_size, sgd_steps = cfg.crl.batch_size, cfg.sgd_steps

    def collect(
        actor_params: Any, env_state: EnvState, key: jax.Array, length: int
    ) -> tuple[EnvState, rb.Transitions]:
        """Roll the stochastic policy for ``length`` steps; transitions (num_envs, length, ...)."""

        def step(env_state: EnvState, key: jax.Array) -> tuple[EnvState, rb.Transitions]:
            action = agent.act(actor_params, env_state.obs, key, deterministic=False)
            transition = {
                "state": env_state.obs[:, : env.state_dim],
                "action": action,
                "traj_id": env_state.info["traj_id"],
            }
            return train_env.step(env_state, action), transition

        env_state, unroll = jax.lax.scan(step, env_state, jax.random.split(key, length))
        return env_state, jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), unroll)

    def prefill(
        actor_params: Any, env_state: EnvState, key: jax.Array
    ) -> tuple[EnvState, rb.BufferState]:
        """A new buffer holding prefill_steps of the given policy in every env."""
        buffer = rb.init_buffer(cfg.num_envs, cfg.replay_capacity, env.state_dim, env.action_dim)
        env_state, unroll = collect(actor_params, env_state, key, cfg.prefill_steps)
        return env_state, rb.insert(buffer, unroll)

    def init(key: jax.Array) -> TrainingState:
        key_agent, key_env, key_prefill, key_run = jax.random.split(key, 4)
        agent_state = agent.init(key_agent)
        env_state, buffer = prefill(agent_state.actor_params, train_env.reset(key_env), key_prefill)
        return TrainingState(
            agent=agent_state,
            env_state=env_state,
            buffer=buffer,
            key=key_run,
            env_steps=jnp.int32(0),
            train_steps=jnp.int32(0),
        )

    def refill(ts: TrainingState) -> TrainingState:
        key, key_prefill = jax.random.split(ts.key)
        env_state, buffer = prefill(ts.agent.actor_params, ts.env_state, key_prefill)
        return dataclasses.replace(ts, env_state=env_state, buffer=buffer, key=key)

    def train_step(ts: TrainingState, _: None) -> tuple[TrainingState, Metrics]:
        key, key_collect, key_sample, key_sgd = jax.random.split(ts.key, 4)
        env_state, unroll = collect(
            ts.agent.actor_params, ts.env_state, key_collect, cfg.unroll_length
        )
        buffer = rb.insert(ts.buffer, unroll)
        data = rb.sample_relabelled(
            buffer,
            key_sample,
            num_windows=cfg.sample_windows,
            window=episode_length,
            num_samples=sgd_steps * batch_size,
            discount=cfg.crl.discount,
            goal_indices=env.goal_indices,
        )
        # minibatches: leaves (sgd_steps, batch_size, ...)
        minibatches = {
            k: data[k].reshape((sgd_steps, batch_size, *data[k].shape[1:]))
            for k in ("state", "action", "goal")
        }

        def sgd_step(agent_state: CRLState, inputs: tuple) -> tuple[CRLState, Metrics]:
            batch, key = inputs
            return agent.update(agent_state, batch, key)

        agent_state, metrics = jax.lax.scan(
            sgd_step, ts.agent, (minibatches, jax.random.split(key_sgd, sgd_steps))
        )
        metrics = jax.tree.map(jnp.mean, metrics)
        metrics["buffer/valid_fraction"] = jnp.mean(data["valid"].astype(jnp.float32))
        new_ts = TrainingState(
            agent=agent_state,
            env_state=env_state,
            buffer=buffer,
            key=key,
            env_steps=ts.env_steps + cfg.env_steps_per_train_step,
            train_steps=ts.train_steps + 1,
        )
        return new_ts, metrics

    def train_epoch(ts: TrainingState) -> tuple[TrainingState, Metrics]:
        ts, metrics = jax.lax.scan(train_step, ts, None, length=cfg.train_steps_per_epoch)
        metrics = jax.tree.map(jnp.mean, metrics)
        # 1.0 when every parameter of every network is finite (the divergence guard reads it).
        finite = [jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(ts.agent)]
        metrics["training/params_finite"] = jnp.all(jnp.stack(finite)).astype(jnp.float32)
        return ts, metrics

    evaluator = make_evaluator(
        eval_env,
        episode_length,
        cfg.num_eval_envs,
        agent.greedy,
    )

    def evaluate(ts: TrainingState, key: jax.Array) -> Metrics:
        return evaluator(ts.agent.actor_params, key)

    return Trainer(
        cfg=cfg,
        env=env,
        agent=agent,
        init=init,
        refill=refill,
        train_epoch=train_epoch,
        evaluate=evaluate,
    )
