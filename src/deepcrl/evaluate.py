"""Jitted evaluator: one full deterministic episode in many envs, goal-reaching metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from deepcrl.envs.base import GoalEnv
from deepcrl.envs.maze_layouts import Cell, MazeLayout
from deepcrl.envs.wrappers import wrap_for_eval
from deepcrl.errors import ConfigError

Params = Any
PolicyFn = Callable[[Params, jax.Array], jax.Array]
"""(actor_params, obs (N, obs_dim)) -> actions (N, action_dim), deterministic."""


def make_episode_evaluator(
    env: GoalEnv,
    episode_length: int,
    num_envs: int,
    policy: PolicyFn,
    place_envs: Callable[[Any], Any] | None = None,
) -> Callable[[Params, jax.Array], dict[str, jax.Array]]:
    """Returns evaluate(actor_params, key) -> per-episode metrics, each (num_envs, ...).

    ``place_envs`` is applied to the per-env state after reset (e.g. to split the envs
    across devices); by default the state is left as it is.

    Metrics: goal (the commanded goal, (N, goal_dim)), time_at_goal (steps within the
    success radius while alive), success_rate (1 where the radius was reached at least
    once), final_distance, min_distance, episode_alive_steps, and every optional metric
    the env reports (its mean over the episode's steps).
    """
    eval_env = wrap_for_eval(env, episode_length, num_envs)

    def evaluate(actor_params: Params, key: jax.Array) -> dict[str, jax.Array]:
        state = eval_env.reset(key)
        alive = jnp.ones((num_envs,), bool)
        if place_envs is not None:
            state, alive = place_envs((state, alive))
        goal = env.commanded_goal(state.obs)

        def step(carry: tuple, _: None) -> tuple[tuple, dict[str, jax.Array]]:
            state, alive = carry
            next_state = eval_env.step(state, policy(actor_params, state.obs))
            distance = env.distance_to_goal(next_state.obs)  # (N,)
            at_goal = (distance < env.goal_reach_thresh) & alive
            truncated = next_state.info.get("truncation", jnp.zeros_like(next_state.done))
            fell = (next_state.done > 0) & (truncated == 0)
            out = {"at_goal": at_goal, "distance": distance, "alive": alive}
            out.update({f"env/{k}": v for k, v in next_state.metrics.items()})
            return (next_state, alive & ~fell), out

        _, trace = jax.lax.scan(step, (state, alive), None, length=episode_length)
        # trace leaves: (episode_length, N); a dead env keeps its distance at death.
        alive_steps = trace["alive"]
        masked = jnp.where(alive_steps, trace["distance"], jnp.inf)
        last_alive = jnp.maximum(jnp.sum(alive_steps, axis=0) - 1, 0)  # (N,)
        episodes = {
            "goal": goal,
            "time_at_goal": jnp.sum(trace["at_goal"], axis=0).astype(jnp.float32),
            "success_rate": jnp.any(trace["at_goal"], axis=0).astype(jnp.float32),
            "final_distance": trace["distance"][last_alive, jnp.arange(num_envs)],
            "min_distance": jnp.min(masked, axis=0),
            "episode_alive_steps": jnp.sum(alive_steps, axis=0).astype(jnp.float32),
        }
        for name, values in trace.items():
            if name.startswith("env/"):
                episodes[name[4:]] = jnp.mean(values, axis=0)
        return episodes

    return evaluate


def make_evaluator(
    env: GoalEnv,
    episode_length: int,
    num_envs: int,
    policy: PolicyFn,
    place_envs: Callable[[Any], Any] | None = None,
) -> Callable[[Params, jax.Array], dict[str, jax.Array]]:
    """Returns evaluate(actor_params, key) -> metrics averaged over num_envs episodes.

    The keys are those of episode_means.
    """
    episode_metrics = make_episode_evaluator(env, episode_length, num_envs, policy, place_envs)

    def evaluate(actor_params: Params, key: jax.Array) -> dict[str, jax.Array]:
        return episode_means(episode_metrics(actor_params, key))

    return evaluate


def episode_means(episodes: dict[str, Any]) -> dict[str, Any]:
    """``eval/<name>``: the mean over episodes of each per-episode metric but the goal."""
    return {f"eval/{k}": jnp.mean(v) for k, v in episodes.items() if k != "goal"}


def maze_grid(env: GoalEnv) -> tuple[MazeLayout, float]:
    """(layout, cell_size) of a maze task; ConfigError for a task without goal cells."""
    layout = getattr(env, "layout", None)
    cell_size = getattr(env, "cell_size", None)
    if not isinstance(layout, MazeLayout) or cell_size is None:
        raise ConfigError(f"{type(env).__name__} is not a maze task: it has no goal cells")
    return layout, float(cell_size)


def metrics_per_goal_cell(env: GoalEnv, episodes: dict[str, Any]) -> dict[Cell, dict[str, float]]:
    """Per-episode metrics averaged over the episodes of each goal cell of a maze task.

    ``episodes`` is the output of make_episode_evaluator. Each episode belongs to the
    maze cell holding its commanded goal; every entry also has ``episodes`` (the count)
    and ``path_cells`` (the cell's path length from the start cell 'R'). Cells are sorted
    by path length, then by index.
    """
    layout, cell_size = maze_grid(env)
    goals = np.asarray(episodes["goal"])[:, :2]
    cells = MazeLayout.cell_indices(goals, cell_size)
    distance = layout.bfs_distances(layout.start_cell)
    out: dict[Cell, dict[str, float]] = {}
    for cell in sorted({(int(i), int(j)) for i, j in cells}, key=lambda c: (distance[c], c)):
        mask = np.all(cells == cell, axis=1)
        row = {"episodes": float(mask.sum()), "path_cells": float(distance[cell])}
        for name, values in episodes.items():
            if name != "goal":
                row[name] = float(np.mean(np.asarray(values)[mask]))
        out[cell] = row
    return out
