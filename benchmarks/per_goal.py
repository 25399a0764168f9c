"""Success per goal cell of every checkpoint of a maze run (greedy and sampled actions).

The headline success rate draws goal cells at random, so with 128 episodes it wanders by
about +/-0.03; grouping many episodes by goal cell shows which goals a policy reaches.
``--sampled`` adds the same table for the stochastic training policy: where it beats the
greedy policy tanh(mean), the greedy one stalls (e.g. at a wall corner or short of the goal).

Usage:
    .venv/bin/deepcrl train --run-dir runs/default --keep-checkpoints 15
    .venv/bin/python benchmarks/per_goal.py runs/default --episodes 1536 --sampled
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp

from deepcrl import envs
from deepcrl.checkpoint import Checkpointer, load_policy
from deepcrl.evaluate import make_episode_evaluator, maze_grid, metrics_per_goal_cell


def main() -> None:
    """Print one line per checkpoint: overall success, then success per goal cell."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--episodes", type=int, default=1536)
    parser.add_argument("--sampled", action="store_true", help="also the sampled policy")
    args = parser.parse_args()
    checkpointer = Checkpointer.existing(args.run_dir)
    epochs = checkpointer.epochs()
    checkpointer.close()
    last = load_policy(args.run_dir, epochs[-1])
    task = envs.make(last.cfg.env)
    layout, _ = maze_grid(task)
    agent = last.agent

    def sampled(params: object, obs: jax.Array) -> jax.Array:
        # A fresh key per step and env: fold the observation's bits into a fixed key.
        bits = jax.lax.bitcast_convert_type(obs, jnp.int32).sum()
        return agent.act(params, obs, jax.random.fold_in(jax.random.PRNGKey(0), bits), False)

    policies = {"greedy": agent.greedy} | ({"sampled": sampled} if args.sampled else {})
    length = last.cfg.resolved_episode_length
    for name, policy in policies.items():
        evaluate = jax.jit(make_episode_evaluator(task, length, args.episodes, policy))
        print(f"{name}: success per goal cell ({args.episodes} episodes, {length} steps)")
        print("  epoch  all    " + "  ".join(f"{c!s:>6}" for c in layout.goal_cells))
        for epoch in epochs:
            params = load_policy(args.run_dir, epoch).actor_params
            episodes = jax.device_get(evaluate(params, jax.random.PRNGKey(1)))
            cells = metrics_per_goal_cell(task, episodes)
            per_cell = "  ".join(
                f"{cells[c]['success_rate']:>6.2f}" if c in cells else "     -"
                for c in layout.goal_cells
            )
            print(f"  {epoch:5d}  {episodes['success_rate'].mean():.3f}  {per_cell}", flush=True)


if __name__ == "__main__":
    main()
