"""Evaluator: per-episode metrics, their means, and the per-goal-cell table of a maze."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepcrl import envs
from deepcrl.errors import ConfigError
from deepcrl.evaluate import make_episode_evaluator, make_evaluator, metrics_per_goal_cell


def straight_to_goal(_params: None, obs: jax.Array) -> jax.Array:
    """Head straight for the goal at full speed (sliding along walls): no planning."""
    return jnp.clip((obs[:, 2:4] - obs[:, 0:2]) / 0.2, -1.0, 1.0)


@pytest.fixture(scope="module")
def u_maze_episodes() -> dict[str, np.ndarray]:
    env = envs.make("point_u_maze")
    run = jax.jit(make_episode_evaluator(env, 100, 240, straight_to_goal))
    return jax.device_get(run(None, jax.random.PRNGKey(0)))


def test_straight_line_policy_reaches_only_the_goals_in_sight(
    u_maze_episodes: dict[str, np.ndarray],
) -> None:
    table = metrics_per_goal_cell(envs.make("point_u_maze"), u_maze_episodes)
    # Nearest first. Sliding along the walls takes the point round the first bend to
    # (2, 3) and (3, 3); for (3, 2) and (3, 1), across the wall from the start corridor,
    # it ends up pushing at the wall: the U maze needs planning for those two.
    assert list(table) == [(1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1)]
    assert [table[c]["path_cells"] for c in table] == [1, 2, 3, 4, 5, 6]
    success = [table[c]["success_rate"] for c in table]
    assert success == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    assert sum(row["episodes"] for row in table.values()) == 240
    # Each cell's numbers are the means over exactly the episodes whose goal lies in it.
    cells = np.round(u_maze_episodes["goal"]).astype(int)
    far = np.all(cells == (3, 1), axis=1)
    assert table[(3, 1)]["episodes"] == far.sum() > 0
    assert table[(3, 1)]["final_distance"] == pytest.approx(
        u_maze_episodes["final_distance"][far].mean()
    )


def test_evaluator_means_are_the_per_episode_means(
    u_maze_episodes: dict[str, np.ndarray],
) -> None:
    env = envs.make("point_u_maze")
    means = jax.jit(make_evaluator(env, 100, 240, straight_to_goal))(None, jax.random.PRNGKey(0))
    assert set(means) == {f"eval/{k}" for k in u_maze_episodes if k != "goal"}
    for key, values in u_maze_episodes.items():
        if key != "goal":
            assert float(means[f"eval/{key}"]) == pytest.approx(float(np.mean(values)), rel=1e-5)
    # A success is an episode with at least one step at the goal.
    success = u_maze_episodes["success_rate"]
    assert set(np.unique(success)) <= {0.0, 1.0}
    np.testing.assert_array_equal(success, u_maze_episodes["time_at_goal"] > 0)


def test_per_goal_table_needs_a_maze() -> None:
    class NoMaze:
        pass

    with pytest.raises(ConfigError, match="NoMaze is not a maze task"):
        metrics_per_goal_cell(NoMaze(), {"goal": np.zeros((1, 2))})  # type: ignore[arg-type]
