"""Composable GoalEnv wrappers: time limit, trajectory ids, auto-reset, vmap.

Training stack (innermost first), built by ``wrap_for_training``:

    TrajectoryIdWrapper(AutoResetWrapper(VmapWrapper(EpisodeWrapper(env))))

with an optional GoalChainingWrapper around ``env`` (a new goal each time one is reached).
Auto-reset and trajectory ids work on the whole batch, slot by slot.

Convention after a step that ends an episode (time limit or termination):

- ``done = 1`` and ``info["truncation"]`` (1.0 on a time limit, 0.0 on a termination)
  and ``metrics`` describe the step just taken;
- everything else describes the FIRST state of the next episode: ``obs``, ``physics`` (a
  fresh reset with a new start and a new goal), ``info["steps"] = 0`` and
  ``info["traj_id"]`` = previous id + 1.

So a state's ``obs`` and ``info["traj_id"]`` always belong to the same episode: a trainer
stores (state.obs, state.info["traj_id"]) of the state an action was taken in. The obs at
which the old episode ended is not returned (CRL does not need it).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from deepcrl.envs.base import EnvState, GoalEnv


class Wrapper(GoalEnv):
    """A GoalEnv around another; forwards metadata and unknown attributes to it."""

    def __init__(self, env: GoalEnv) -> None:
        """Wrap ``env``, copying its static metadata."""
        self.env = env
        self.state_dim = env.state_dim
        self.goal_indices = env.goal_indices
        self.action_dim = env.action_dim
        self.goal_reach_thresh = env.goal_reach_thresh
        self.default_episode_length = env.default_episode_length

    def __getattr__(self, name: str) -> Any:
        """Forward task-specific attributes (e.g. ``layout``) to the wrapped env."""
        if name == "env":  # not yet set: avoid infinite recursion (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def unwrapped(self) -> GoalEnv:
        """The innermost, unwrapped task."""
        env = self.env
        return env.unwrapped if isinstance(env, Wrapper) else env

    def reset(self, key: jax.Array) -> EnvState:
        """Reset the wrapped env."""
        return self.env.reset(key)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Step the wrapped env."""
        return self.env.step(state, action)


class EpisodeWrapper(Wrapper):
    """Time limit: done = 1 once ``info["steps"]`` reaches ``episode_length``."""

    def __init__(self, env: GoalEnv, episode_length: int) -> None:
        """Wrap ``env`` with a limit of ``episode_length`` steps."""
        if episode_length < 1:
            raise ValueError(f"episode_length must be >= 1, got {episode_length}")
        super().__init__(env)
        self.episode_length = int(episode_length)
        self.default_episode_length = self.episode_length

    def reset(self, key: jax.Array) -> EnvState:
        """Reset with steps = 0 and truncation = 0."""
        state = self.env.reset(key)
        info = {
            **state.info,
            "steps": jnp.zeros((), jnp.int32),
            "truncation": jnp.zeros((), jnp.float32),
        }
        return state.replace(info=info)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Step, count it, and end the episode at the limit."""
        state = self.env.step(state, action)
        steps = state.info["steps"] + 1
        at_limit = steps >= self.episode_length
        # truncation = 1 only when the time limit, not the task, ended the episode.
        truncation = jnp.where(at_limit & (state.done == 0), 1.0, 0.0).astype(jnp.float32)
        done = jnp.where(at_limit, 1.0, state.done).astype(jnp.float32)
        info = {**state.info, "steps": steps, "truncation": truncation}
        return state.replace(done=done, info=info)


class GoalChainingWrapper(Wrapper):
    """Exploration for training: once the commanded goal is reached, command a new one.

    After a step that ends within ``goal_reach_thresh`` of the goal, the state's goal (in
    its physics and obs) is replaced by a fresh draw from the task's goal distribution, up
    to ``max_new_goals`` times per episode; the episode, its start and its trajectory id
    go on. CRL learns from hindsight goals (future states of the same episode), never from
    the commanded one, so this only changes where the behaviour policy goes: past its
    first goal, into parts of the task a single goal per episode would rarely reach (e.g.
    the far end of a U maze). Keep ``max_new_goals`` small: an agent that keeps moving
    spreads its future states over the whole task and the critic's positives lose meaning.
    """

    def __init__(self, env: GoalEnv, max_new_goals: int) -> None:
        """Allow ``max_new_goals`` (>= 1) goal changes per episode."""
        if max_new_goals < 1:
            raise ValueError(f"max_new_goals must be >= 1, got {max_new_goals}")
        super().__init__(env)
        self.max_new_goals = int(max_new_goals)

    def reset(self, key: jax.Array) -> EnvState:
        """Reset with the goal budget full and a key for later goal draws."""
        key_reset, key_next = jax.random.split(key)
        state = self.env.reset(key_reset)
        info = {
            **state.info,
            "goal_rng": key_next,
            "new_goals_left": jnp.asarray(self.max_new_goals, jnp.int32),
        }
        return state.replace(info=info)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Step; where the goal was reached and the budget allows, command a new one."""
        key_next, key_goal = jax.random.split(state.info["goal_rng"])
        stepped = self.env.step(state, action)
        left = stepped.info["new_goals_left"]
        reached = self.distance_to_goal(stepped.obs) < self.goal_reach_thresh  # () bool
        chain = reached & (left > 0)
        chained = self.env.with_goal(stepped, self.env.sample_goal(key_goal))
        stepped = jax.tree.map(lambda new, old: jnp.where(chain, new, old), chained, stepped)
        info = {**stepped.info, "goal_rng": key_next, "new_goals_left": left - chain}
        return stepped.replace(info=info)


class VmapWrapper(Wrapper):
    """``num_envs`` independent copies: every leaf gets a leading (num_envs,) axis."""

    def __init__(self, env: GoalEnv, num_envs: int) -> None:
        """Batch ``env`` over ``num_envs`` slots."""
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        super().__init__(env)
        self.num_envs = int(num_envs)

    def reset(self, key: jax.Array) -> EnvState:
        """Reset every slot with its own key split from ``key``."""
        return self.reset_each(jax.random.split(key, self.num_envs))

    def reset_each(self, keys: jax.Array) -> EnvState:
        """Reset slot i with ``keys[i]``; ``keys`` is (num_envs,) keys."""
        return jax.vmap(self.env.reset)(keys)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Step every slot; ``action`` is (num_envs, action_dim)."""
        return jax.vmap(self.env.step)(state, action)


class AutoResetWrapper(Wrapper):
    """After done = 1, return a fresh reset (new start and goal) with done still 1.

    Works on a batch (it wraps a VmapWrapper): slot i keeps its own key in
    ``info["rng"][i]`` and resets with it, so every slot draws its own new start and goal.
    The fresh resets are computed only on steps where some slot finished (a ``lax.cond`` on
    the batch), not on every step: a Brax reset costs about a fifth of a control step,
    which was 20-40% of the env's time when paid every step.
    """

    # Info entries that describe the finished step, so they survive the reset.
    STEP_INFO_KEYS: tuple[str, ...] = ("truncation",)

    def __init__(self, env: VmapWrapper) -> None:
        """Auto-reset the slots of the batched ``env``."""
        super().__init__(env)
        self.batched: VmapWrapper = env

    def reset(self, key: jax.Array) -> EnvState:
        """Reset every slot and keep a key per slot in ``info["rng"]`` for its auto-resets."""
        keys = jax.vmap(jax.random.split)(jax.random.split(key, self.batched.num_envs))
        state = self.batched.reset_each(keys[:, 0])
        return state.replace(info={**state.info, "rng": keys[:, 1]})

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Step; in the slots that are done, swap in a fresh reset drawn with a new key."""
        keys = jax.vmap(jax.random.split)(state.info["rng"])  # (num_envs, 2) keys
        key_next, key_reset = keys[:, 0], keys[:, 1]
        stepped = self.batched.step(state, action)
        is_done = stepped.done > 0.5  # (num_envs,) bool

        def swap_in_resets(stepped: EnvState) -> EnvState:
            fresh = self.batched.reset_each(key_reset)

            def pick(new: jax.Array, old: jax.Array) -> jax.Array:
                return jnp.where(is_done.reshape(is_done.shape + (1,) * (old.ndim - 1)), new, old)

            # Keys only outer wrappers know (e.g. traj_id) are not in fresh.info: keep them.
            info = {
                **stepped.info,
                **{
                    k: jax.tree.map(pick, v, stepped.info[k])
                    for k, v in fresh.info.items()
                    if k not in self.STEP_INFO_KEYS
                },
            }
            return stepped.replace(
                physics=jax.tree.map(pick, fresh.physics, stepped.physics),
                obs=pick(fresh.obs, stepped.obs),
                info=info,
            )

        stepped = jax.lax.cond(jnp.any(is_done), swap_in_resets, lambda s: s, stepped)
        return stepped.replace(info={**stepped.info, "rng": key_next})


class TrajectoryIdWrapper(Wrapper):
    """``info["traj_id"]``: per-slot episode counter, +1 on each done (put outside auto-reset)."""

    def reset(self, key: jax.Array) -> EnvState:
        """Reset with traj_id = 0 in every slot."""
        state = self.env.reset(key)
        traj_id = jnp.zeros(state.done.shape, jnp.int32)
        return state.replace(info={**state.info, "traj_id": traj_id})

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Step; done = 1 means the returned obs opens a new episode, so bump the id."""
        traj_id = state.info["traj_id"]
        state = self.env.step(state, action)
        traj_id = traj_id + (state.done > 0.5).astype(jnp.int32)
        return state.replace(info={**state.info, "traj_id": traj_id})


def wrap_for_training(
    env: GoalEnv, episode_length: int, num_envs: int, *, chained_goals: int = 0
) -> GoalEnv:
    """(Goal chaining ->) time limit -> vmap -> auto-reset with new goals -> trajectory ids."""
    if chained_goals:
        env = GoalChainingWrapper(env, chained_goals)
    env = EpisodeWrapper(env, episode_length)
    return TrajectoryIdWrapper(AutoResetWrapper(VmapWrapper(env, num_envs)))


def wrap_for_eval(env: GoalEnv, episode_length: int, num_envs: int) -> GoalEnv:
    """Time limit -> vmap; no auto-reset (run exactly ``episode_length`` steps)."""
    return VmapWrapper(EpisodeWrapper(env, episode_length), num_envs)
