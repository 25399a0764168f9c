"""Jitted evaluator: one full deterministic episode in many envs, goal-reaching metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from deepcrl.envs.base import GoalEnv
from deepcrl.envs.wrappers import wrap_for_eval

Params = Any
PolicyFn = Callable[[Params, jax.Array], jax.Array]
"""(actor_params, obs (N, obs_dim)) -> actions (N, action_dim), deterministic."""


def make_evaluator(
    env: GoalEnv,
    episode_length: int,
    num_envs: int,
    policy: PolicyFn,
    place_envs: Callable[[Any], Any] | None = None,
) -> Callable[[Params, jax.Array], dict[str, jax.Array]]:
    """Returns evaluate(actor_params, key) -> metrics averaged over num_envs episodes.

    ``place_envs`` is applied to the per-env state after reset (e.g. to split the envs
    across devices); by default the state is left as it is.

    Metrics: time_at_goal (steps within the success radius while alive, out of
    episode_length), success_rate (reached the radius at least once), final_distance,
    min_distance, and the mean of every optional metric the env reports.
    """
    eval_env = wrap_for_eval(env, episode_length, num_envs)

    def evaluate(actor_params: Params, key: jax.Array) -> dict[str, jax.Array]:
        state = eval_env.reset(key)
        alive = jnp.ones((num_envs,), bool)
        if place_envs is not None:
            state, alive = place_envs((state, alive))

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
        final = trace["distance"][last_alive, jnp.arange(num_envs)]
        metrics = {
            "eval/time_at_goal": jnp.mean(jnp.sum(trace["at_goal"], axis=0)),
            "eval/success_rate": jnp.mean(jnp.any(trace["at_goal"], axis=0)),
            "eval/final_distance": jnp.mean(final),
            "eval/min_distance": jnp.mean(jnp.min(masked, axis=0)),
            "eval/episode_alive_steps": jnp.mean(jnp.sum(alive_steps, axis=0)),
        }
        for name, values in trace.items():
            if name.startswith("env/"):
                metrics[f"eval/{name[4:]}"] = jnp.mean(values)
        return metrics

    return evaluate
