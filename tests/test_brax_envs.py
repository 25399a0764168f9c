"""Brax tasks (reacher, ant, ant mazes): interface, goals, termination, maze walls.

Brax compiles slowly on a CPU, so each task is compiled once per module (a 100-step
rollout through the full training wrapper stack as one jitted scan) and the tests read
that rollout; the maze-wall geometry is checked on the generated XML without compiling.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("brax")

from deepcrl.envs import make
from deepcrl.envs.ant_maze import ant_maze_xml
from deepcrl.envs.maze_layouts import MazeLayout
from helpers import wrapped_rollout

QUICK_COMPILE = True
"""Physics compiles dominate this module: compile it unoptimised (conftest.quick_compile)."""
NUM_ENVS, STEPS, EPISODE = 4, 100, 20
ROLLOUT_TASKS = ("reacher", "ant_u_maze")


@pytest.fixture(scope="module", params=ROLLOUT_TASKS)
def rollout(request: pytest.FixtureRequest) -> dict:
    """One compiled rollout per task, shared by every test in this module."""
    return wrapped_rollout(request.param, NUM_ENVS, STEPS, EPISODE)


def test_declared_sizes_and_finite_obs(rollout: dict) -> None:
    env, obs = rollout["env"], rollout["obs"]
    assert obs.shape == (STEPS, NUM_ENVS, env.obs_dim)
    assert env.obs_dim == env.state_dim + env.goal_dim
    assert np.isfinite(np.asarray(obs)).all()
    assert rollout["final"].physics.pipeline_state.q.shape[0] == NUM_ENVS


def test_obs_is_state_then_goal(rollout: dict) -> None:
    env, obs, goal = rollout["env"], rollout["obs"], rollout["goal"]
    np.testing.assert_allclose(env.commanded_goal(obs), goal, atol=1e-6)
    ps = rollout["final"].physics.pipeline_state
    final_obs = rollout["final"].obs
    if rollout["env"].goal_indices == (0, 1):  # ant: achieved goal = torso xy = q[:2]
        np.testing.assert_allclose(env.achieved_goal(final_obs), ps.q[:, :2], atol=1e-6)
    else:  # reacher: fingertip = link 1 frame + offset (0.11, 0, 0); at rest z = 0.01
        tip = jax.vmap(env._tip)(ps)[0]
        np.testing.assert_allclose(env.achieved_goal(final_obs), tip, atol=1e-6)


def test_success_radius(rollout: dict) -> None:
    env = rollout["env"]
    obs = rollout["obs"][0, 0]
    achieved = env.achieved_goal(obs)
    at_goal = jnp.concatenate([obs[: env.state_dim], achieved])
    direction = jnp.zeros(env.goal_dim).at[0].set(1.0)
    just_out = at_goal.at[env.state_dim :].add(1.01 * env.goal_reach_thresh * direction)
    just_in = at_goal.at[env.state_dim :].add(0.99 * env.goal_reach_thresh * direction)
    assert env.distance_to_goal(at_goal) < env.goal_reach_thresh
    assert env.distance_to_goal(just_in) < env.goal_reach_thresh
    assert not env.distance_to_goal(just_out) < env.goal_reach_thresh


def test_every_episode_draws_a_new_goal(rollout: dict) -> None:
    traj, goal = np.asarray(rollout["traj"]), np.asarray(rollout["goal"])
    for slot in range(NUM_ENVS):
        episodes = np.unique(traj[:, slot])
        assert len(episodes) >= STEPS // EPISODE  # auto-reset happened
        per_episode = {tuple(goal[traj[:, slot] == e, slot][0].round(5)) for e in episodes}
        assert len(per_episode) > 1, "consecutive episodes in one slot share a goal"
        # Within an episode the goal never changes.
        for e in episodes:
            g = goal[traj[:, slot] == e, slot]
            assert np.ptp(g, axis=0).max() == 0.0


def test_goal_distributions(rollout: dict) -> None:
    env, goal = rollout["env"], np.asarray(rollout["goal"]).reshape(-1, rollout["env"].goal_dim)
    if hasattr(env, "layout"):  # maze: goals are 'G' cell centres
        centres = env.layout.goal_centres(env.cell_size)
        dists = np.abs(goal[:, None, :] - centres[None]).max(-1).min(-1)
        assert dists.max() < 1e-5
    else:  # reacher: within the 0.2 disc, at the fingertip height
        assert (np.linalg.norm(goal[:, :2], axis=1) <= env.goal_radius + 1e-6).all()
        np.testing.assert_allclose(goal[:, 2], 0.01, atol=1e-6)


def test_only_time_limit_or_falls_end_episodes(rollout: dict) -> None:
    done, trunc = np.asarray(rollout["done"]), np.asarray(rollout["trunc"])
    steps = np.arange(1, STEPS + 1)[:, None]
    if rollout["env"].goal_indices != (0, 1):  # reacher never terminates
        np.testing.assert_array_equal(done, (steps % EPISODE == 0) * np.ones_like(done))
        assert (trunc == done).all()


# ---- ant-specific: falls terminate, success does not; walls are where the layout says ----


@pytest.fixture(scope="module")
def ant_maze():
    """ant_u_maze and its jitted single-env step."""
    env = make("ant_u_maze")
    return env, jax.jit(env.step)


def _with_torso(env, state, z=None, xy=None, vel_x=None):
    """``state`` re-initialised with the torso at height z / position xy / x velocity."""
    ps = state.physics.pipeline_state
    q, qd = ps.q, ps.qd
    if z is not None:
        q = q.at[2].set(z)
    if xy is not None:
        q = q.at[:2].set(xy)
    if vel_x is not None:
        qd = qd.at[0].set(vel_x)
    return state.replace(physics=state.physics.replace(pipeline_state=env.sim.init(q, qd)))


def test_ant_terminates_only_on_fall(ant_maze) -> None:
    env, step = ant_maze
    state = env.reset(jax.random.key(3))
    # Healthy and standing on its goal: success does not end the episode.
    at_goal = state.replace(physics=state.physics.replace(goal=state.obs[:2]))
    nxt = step(at_goal, jnp.zeros(env.action_dim))
    assert float(nxt.done) == 0.0
    assert float(env.distance_to_goal(nxt.obs)) < 0.5
    # Torso lifted to 3 m (above the healthy range): terminates.
    high = step(_with_torso(env, state, z=3.0), jnp.zeros(env.action_dim))
    assert float(high.done) == 1.0
    assert bool(env.fallen(high.physics.pipeline_state))


def test_ant_is_stopped_by_a_wall(ant_maze) -> None:
    env, step = ant_maze
    # U maze: start cell (1, 1) at (4, 4); cell (0, 1) is a wall whose face is at x = 2.
    state = _with_torso(env, env.reset(jax.random.key(4)), xy=jnp.array([3.0, 4.0]), vel_x=-8.0)
    for _ in range(20):  # 1 s at 8 m/s would carry it 8 m without the wall
        state = step(state, jnp.zeros(env.action_dim))
    torso_radius = 0.25
    assert float(state.physics.pipeline_state.q[0]) > 2.0 + torso_radius - 0.1


@pytest.mark.parametrize(
    "layout", ["U_MAZE", "U4_MAZE", "U5_MAZE", "BIG_MAZE", "HARDEST_MAZE", "U_MAZE_EVAL"]
)
def test_maze_walls_match_layout(layout: str) -> None:
    maze = MazeLayout.from_name(layout)
    root = ET.fromstring(ant_maze_xml(maze, cell_size=4.0))
    walls = {
        g.get("name"): g for g in root.iter("geom") if (g.get("name") or "").startswith("wall_")
    }
    assert len(walls) == len(maze.wall_cells)
    for i, j in maze.wall_cells:
        g = walls[f"wall_{i}_{j}"]
        assert g.get("type") == "box"
        np.testing.assert_allclose([float(v) for v in g.get("pos").split()], [4 * i, 4 * j, 1.0])
        np.testing.assert_allclose([float(v) for v in g.get("size").split()], [2.0, 2.0, 1.0])
    # No wall on a free cell, and the robot is still in the model.
    assert root.find(".//body[@name='torso']") is not None


def test_ant_maze_system_has_the_walls(ant_maze) -> None:
    env, _ = ant_maze
    sys = env.sim.sys
    boxes = np.asarray(sys.geom_type) == 6  # mjGEOM_BOX
    centres = np.asarray(sys.geom_pos)[boxes]
    expected = np.concatenate(
        [env.layout.wall_centres(4.0), np.ones((len(env.layout.wall_cells), 1))], axis=1
    )
    np.testing.assert_allclose(np.sort(centres, axis=0), np.sort(expected, axis=0))


def test_ant_open_ground_goal_on_circle() -> None:
    env = make("ant")
    goals = jax.vmap(lambda k: env.sample_start_goal(k)[1])(jax.random.split(jax.random.key(0), 64))
    np.testing.assert_allclose(np.linalg.norm(goals, axis=1), 10.0, rtol=1e-5)
    assert np.ptp(np.arctan2(goals[:, 1], goals[:, 0])) > 3.0  # angles spread around
