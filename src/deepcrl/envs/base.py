"""The goal-conditioned environment interface every task implements."""

from __future__ import annotations

import abc
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class EnvState:
    """State of one environment instance (add a leading axis for a batch of envs).

    obs = concat(state, goal): the first ``state_dim`` entries are the agent's state, the
    last ``goal_dim`` entries the commanded goal.
    """

    physics: Any
    """Task-specific simulator state (a pytree)."""
    obs: jax.Array
    """(state_dim + goal_dim,) observation."""
    done: jax.Array
    """() float32, 1.0 when the episode ended at this step (fall or time limit)."""
    info: dict[str, Any] = struct.field(default_factory=dict)
    """Wrapper bookkeeping: step counter, truncation flag, trajectory id, reset rng."""
    metrics: dict[str, jax.Array] = struct.field(default_factory=dict)
    """Optional task-specific scalars (an evaluator must cope with any subset)."""

    def replace(self, **updates: Any) -> EnvState:
        """A copy with ``updates`` applied (typed twin of flax's runtime ``replace``)."""
        return dataclasses.replace(self, **updates)

    @classmethod
    def first(cls, physics: Any, obs: jax.Array, metrics: dict[str, jax.Array]) -> EnvState:
        """The first state of an episode: done = 0, no wrapper info yet."""
        return cls(physics=physics, obs=obs, done=jnp.zeros((), jnp.float32), metrics=metrics)

    def advance(
        self,
        physics: Any,
        obs: jax.Array,
        metrics: dict[str, jax.Array],
        done: jax.Array | None = None,
    ) -> EnvState:
        """The state after one step (wrapper info kept); ``done`` (bool or float) default 0."""
        done = jnp.zeros((), jnp.float32) if done is None else done.astype(jnp.float32)
        return self.replace(physics=physics, obs=obs, done=done, metrics=metrics)


class GoalEnv(abc.ABC):
    """A goal-conditioned task: pure reset/step functions plus static metadata."""

    state_dim: int
    """Number of state entries at the front of the observation."""
    goal_indices: tuple[int, ...]
    """Which state entries form the achieved goal."""
    action_dim: int
    """Actions live in [-1, 1]^action_dim."""
    goal_reach_thresh: float
    """Success radius: distance(achieved goal, goal) < this."""
    default_episode_length: int = 1000
    """Episode length used when the trainer's config does not override it."""

    @property
    def goal_dim(self) -> int:
        """Size of the goal vector."""
        return len(self.goal_indices)

    @property
    def obs_dim(self) -> int:
        """Observation size: state_dim + goal_dim."""
        return self.state_dim + self.goal_dim

    @abc.abstractmethod
    def reset(self, key: jax.Array) -> EnvState:
        """Draw a new start state and a new goal."""

    @abc.abstractmethod
    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Advance one control step; sets done=1 only on termination (falls)."""

    def with_goal(self, state: EnvState, goal: jax.Array) -> EnvState:
        """``state`` commanding ``goal`` (goal_dim,) instead: in the physics and the obs.

        Works for every task whose physics pytree keeps the commanded goal in a ``goal``
        field (all built-in tasks); a task storing it elsewhere overrides this.
        """
        return state.replace(
            physics=state.physics.replace(goal=goal),
            obs=state.obs.at[self.state_dim :].set(goal),
        )

    def sample_goal(self, key: jax.Array) -> jax.Array:
        """(goal_dim,) a goal drawn from the task's goal distribution.

        By default the goal of a fresh ``reset(key)``: under jit the rest of that reset is
        dead code and compiled away, so this costs only the goal draw.
        """
        return self.reset(key).physics.goal

    def achieved_goal(self, obs: jax.Array) -> jax.Array:
        """(..., goal_dim) goal slice of the state part of ``obs``."""
        return obs[..., jnp.asarray(self.goal_indices)]

    def commanded_goal(self, obs: jax.Array) -> jax.Array:
        """(..., goal_dim) commanded goal stored at the end of ``obs``."""
        return obs[..., self.state_dim :]

    def distance_to_goal(self, obs: jax.Array) -> jax.Array:
        """(...,) Euclidean distance between achieved and commanded goal."""
        return jnp.linalg.norm(self.achieved_goal(obs) - self.commanded_goal(obs), axis=-1)
