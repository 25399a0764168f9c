"""The trainer: one jitted epoch = lax.scan over training steps.

A training step collects an unroll in every env with the stochastic policy, writes it to
the replay buffer, draws sgd_steps * batch_size relabelled transitions and runs a lax.scan
of SGD steps over them. Every array the epoch touches is an argument (never a closure
constant), so the same compiled program serves every epoch.

Data parallel over a device mesh (parallel.py): envs and replay buffer are split along the
env axis. Collection is written for all envs and partitioned by GSPMD (each device steps
its own envs; the noise is the same whatever the device count); insert and relabelled
sampling run per device on the local buffer shard (shard_map, no cross-device gathers),
and each device contributes batch_size / devices rows to every minibatch. The SGD step is
compiled by GSPMD with replicated parameters and the batch split, so it computes exactly
the global-batch update (InfoNCE negatives span the whole batch, gradients are averaged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct
from jax.sharding import Mesh

from deepcrl import buffer as rb
from deepcrl import parallel
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
    mesh: Mesh
    """Devices the state is split over (parallel.DATA axis)."""
    init: Callable[[jax.Array], TrainingState]
    """Fresh agent, env states and a prefilled buffer."""
    refill: Callable[[TrainingState], TrainingState]
    """The same state with a fresh buffer prefilled by its own policy (resume without a
    stored buffer)."""
    train_epoch: Callable[[TrainingState], tuple[TrainingState, Metrics]]
    """train_steps_per_epoch training steps; metrics averaged over them."""
    evaluate: Callable[[TrainingState, jax.Array], Metrics]
    """Deterministic-policy evaluation metrics."""
    sgd: Callable[[CRLState, rb.Transitions, jax.Array], tuple[CRLState, Metrics]]
    """lax.scan of SGD steps over minibatches with leaves (sgd_steps, batch_size, ...)."""


def check_eval_env(env: GoalEnv, eval_env: GoalEnv, name: str) -> None:
    """Reject an evaluation task whose observations or actions differ from the training task."""
    shape = lambda e: (e.state_dim, e.goal_indices, e.action_dim)
    if shape(env) != shape(eval_env):
        raise ConfigError(
            f"eval_env={name} has (state_dim, goal_indices, action_dim) {shape(eval_env)} but "
            f"the training task has {shape(env)}: choose a layout of the same task"
        )


def make_trainer(
    cfg: TrainConfig, env: GoalEnv, eval_env: GoalEnv | None = None, mesh: Mesh | None = None
) -> Trainer:
    """Build the pure init / train_epoch / evaluate functions for a validated config.

    ``eval_env`` (default: ``env``) is the task evaluated after each epoch; ``mesh``
    (default: ``parallel.make_mesh(cfg.devices)``) the devices the state is split over.
    The functions pin their outputs to the mesh, so plain ``jax.jit`` distributes them.
    """
    cfg = cfg.with_episode_length(env.default_episode_length)
    cfg.validate()
    mesh = parallel.make_mesh(cfg.devices) if mesh is None else mesh
    cfg.check_device_split(parallel.mesh_size(mesh))
    eval_env = env if eval_env is None else eval_env
    check_eval_env(env, eval_env, cfg.eval_env or cfg.env)
    episode_length = cfg.resolved_episode_length
    nets = make_networks(cfg.network, env.state_dim, env.action_dim, env.goal_dim)
    agent = CRLAgent(nets, cfg.crl, cfg.total_sgd_steps)
    train_env = wrap_for_training(
        env, episode_length, cfg.num_envs, chained_goals=cfg.chained_goals
    )
    batch_size, sgd_steps = cfg.crl.batch_size, cfg.sgd_steps
    local_batch = parallel.local_count(batch_size, mesh)
    # Each device draws its share of windows and of transitions from its own buffer shard.
    local_windows = -(-cfg.sample_windows // parallel.mesh_size(mesh))

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
        ts = TrainingState(
            agent=agent_state,
            env_state=env_state,
            buffer=buffer,
            key=key_run,
            env_steps=jnp.int32(0),
            train_steps=jnp.int32(0),
        )
        return parallel.constrain_state(ts, mesh)

    def insert_and_sample(
        buffer: rb.BufferState, unroll: rb.Transitions, key: jax.Array
    ) -> tuple[rb.BufferState, rb.Transitions, jax.Array]:
        """Per device: write the local unroll, draw local_batch rows for each SGD step."""
        buffer = rb.insert(buffer, unroll)
        data = rb.sample_relabelled(
            buffer,
            parallel.device_key(key, mesh),
            num_windows=local_windows,
            window=episode_length,
            num_samples=sgd_steps * local_batch,
            discount=cfg.crl.discount,
            goal_indices=env.goal_indices,
        )
        # local minibatches: leaves (sgd_steps, local_batch, ...)
        minibatches = {
            k: data[k].reshape((sgd_steps, local_batch, *data[k].shape[1:]))
            for k in ("state", "action", "goal")
        }
        return buffer, minibatches, data["valid"].reshape((sgd_steps, local_batch))

    def sharded_insert_and_sample(
        ts: TrainingState, unroll: rb.Transitions, key: jax.Array
    ) -> tuple[rb.BufferState, rb.Transitions, jax.Array]:
        """insert_and_sample on every device's buffer shard.

        Global minibatches (sgd_steps, batch_size, ...) have the batch axis split: device d
        holds rows [d * local_batch, (d + 1) * local_batch) of every minibatch.
        """
        buffer_spec = parallel.state_specs(ts).buffer
        return parallel.per_device(
            insert_and_sample,
            mesh,
            in_specs=(buffer_spec, parallel.SPLIT, parallel.REPLICATED),
            out_specs=(buffer_spec, parallel.SPLIT_1, parallel.SPLIT_1),
        )(ts.buffer, unroll, key)

    def sgd(
        agent_state: CRLState, minibatches: rb.Transitions, key: jax.Array
    ) -> tuple[CRLState, Metrics]:
        """SGD steps over minibatches with leaves (steps, batch_size, ...), in order."""

        def sgd_step(agent_state: CRLState, inputs: tuple) -> tuple[CRLState, Metrics]:
            batch, key = inputs
            # batch leaves (batch_size, ...) split over devices, parameters replicated:
            # GSPMD computes the global-batch loss and the mean gradient.
            batch = parallel.constrain(batch, mesh)
            agent_state, metrics = agent.update(agent_state, batch, key)
            return parallel.constrain(agent_state, mesh, axis=None), metrics

        steps = jax.tree.leaves(minibatches)[0].shape[0]  # sgd_steps in training
        return jax.lax.scan(sgd_step, agent_state, (minibatches, jax.random.split(key, steps)))

    def refill(ts: TrainingState) -> TrainingState:
        key, key_prefill = jax.random.split(ts.key)
        env_state, buffer = prefill(ts.agent.actor_params, ts.env_state, key_prefill)
        ts = dataclasses.replace(ts, env_state=env_state, buffer=buffer, key=key)
        return parallel.constrain_state(ts, mesh)

    def train_step(ts: TrainingState, _: None) -> tuple[TrainingState, Metrics]:
        key, key_collect, key_sample, key_sgd = jax.random.split(ts.key, 4)
        env_state, unroll = collect(
            ts.agent.actor_params, ts.env_state, key_collect, cfg.unroll_length
        )
        buffer, minibatches, valid = sharded_insert_and_sample(ts, unroll, key_sample)
        agent_state, metrics = sgd(ts.agent, minibatches, key_sgd)
        metrics = jax.tree.map(jnp.mean, metrics)
        metrics["buffer/valid_fraction"] = jnp.mean(valid.astype(jnp.float32))
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
        ts = parallel.constrain_state(ts, mesh)
        ts, metrics = jax.lax.scan(train_step, ts, None, length=cfg.train_steps_per_epoch)
        metrics = jax.tree.map(jnp.mean, metrics)
        # 1.0 when every parameter of every network is finite (the divergence guard reads it).
        finite = [jnp.all(jnp.isfinite(p)) for p in jax.tree.leaves(ts.agent)]
        metrics["training/params_finite"] = jnp.all(jnp.stack(finite)).astype(jnp.float32)
        return parallel.constrain_state(ts, mesh), metrics

    evaluator = make_evaluator(
        eval_env,
        episode_length,
        cfg.num_eval_envs,
        agent.greedy,
        place_envs=lambda tree: parallel.constrain(tree, mesh),
    )

    def evaluate(ts: TrainingState, key: jax.Array) -> Metrics:
        return evaluator(ts.agent.actor_params, key)

    return Trainer(
        cfg=cfg,
        env=env,
        agent=agent,
        mesh=mesh,
        init=init,
        refill=refill,
        train_epoch=train_epoch,
        evaluate=evaluate,
        sgd=sgd,
    )
