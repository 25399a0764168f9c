"""Humanoid tasks and the maze family: interface, goals, falls, walls, registry, training.

Brax compiles the humanoid slowly on a CPU, so each of humanoid and humanoid_u_maze is
compiled once (a 100-step rollout through the training wrappers as one jitted scan that
starts from a given state); the fall check reuses that program from an edited state. Maze
walls and every registered maze's start/goal table are checked without compiling physics.
"""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("brax")

from deepcrl.config import CRLConfig, NetworkConfig
from deepcrl.envs.humanoid import Humanoid, quat_to_mat
from deepcrl.envs.humanoid_maze import HumanoidMaze
from deepcrl.envs.maze_layouts import MazeLayout
from deepcrl.envs.maze_task import MazeTask, layout_pairs, stitch_pairs
from deepcrl.envs.registry import get_spec, list_envs
from deepcrl.runner import train
from helpers import small_config, wrapped_rollout

QUICK_COMPILE = True
"""Physics compiles dominate this module: compile it unoptimised (conftest.quick_compile)."""
NUM_ENVS, STEPS, EPISODE = 4, 100, 20
ROLLOUT_TASKS = ("humanoid", "humanoid_u_maze")


@pytest.fixture(scope="module", params=ROLLOUT_TASKS)
def rollout(request: pytest.FixtureRequest) -> dict:
    """One compiled rollout per task, shared by every test in this module."""
    return wrapped_rollout(request.param, NUM_ENVS, STEPS, EPISODE)


def test_declared_sizes_and_finite_obs(rollout: dict) -> None:
    env, obs = rollout["env"], rollout["obs"]
    assert isinstance(env, Humanoid)
    assert (env.state_dim, env.goal_dim, env.action_dim) == (268, 3, 17)
    assert env.goal_indices == (0, 1, 2) and env.goal_reach_thresh == 0.5
    assert obs.shape == (STEPS, NUM_ENVS, 271)
    assert np.isfinite(np.asarray(obs)).all()
    assert env.sim.dt == pytest.approx(0.015)


def test_obs_is_state_then_goal(rollout: dict) -> None:
    env, obs, goal = rollout["env"], rollout["obs"], rollout["goal"]
    np.testing.assert_allclose(env.commanded_goal(obs), goal, atol=1e-6)
    ps = rollout["final"].physics.pipeline_state
    final = rollout["final"].obs
    np.testing.assert_allclose(env.achieved_goal(final), ps.q[:, :3], atol=1e-6)
    np.testing.assert_allclose(final[:, :24], ps.q, atol=1e-6)
    np.testing.assert_allclose(final[:, 24:47], ps.qd, atol=1e-6)


def test_state_layout_and_no_goal_leak(rollout: dict) -> None:
    """The state part does not change with the goal; com and inertia blocks are physical."""
    env = rollout["env"]
    ps = jax.tree.map(lambda x: x[0], rollout["final"].physics.pipeline_state)
    torque = env.torques(jnp.full(env.action_dim, 0.5))[1]
    obs_a, _ = env._observe(ps, torque, jnp.array([1.0, 2.0, 1.25]))
    obs_b, _ = env._observe(ps, torque, jnp.array([-7.0, 3.0, 0.0]))
    np.testing.assert_array_equal(obs_a[: env.state_dim], obs_b[: env.state_dim])
    mass = np.asarray(env.sim.sys.link.inertia.mass)
    rel = np.asarray(obs_a[53:86]).reshape(11, 3)  # link com - body com: mass-weighted sum 0
    np.testing.assert_allclose(mass @ rel, 0.0, atol=1e-4)
    inertia = np.asarray(obs_a[86:185]).reshape(11, 3, 3)  # symmetric, same eigenvalues
    np.testing.assert_allclose(inertia, np.swapaxes(inertia, 1, 2), atol=1e-6)
    np.testing.assert_allclose(
        np.linalg.eigvalsh(inertia).sum(-1),
        np.trace(np.asarray(env.sim.sys.link.inertia.i), axis1=1, axis2=2),
        rtol=1e-4,
    )
    np.testing.assert_allclose(obs_a[251:268], env.sim.sys.actuator.gear * 0.2, rtol=1e-6)
    # quat_to_mat: a quarter turn about z takes x to y.
    quarter = jnp.array([np.cos(np.pi / 4), 0.0, 0.0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(quat_to_mat(quarter) @ jnp.array([1.0, 0, 0]), [0, 1, 0], atol=1e-6)


def test_success_radius(rollout: dict) -> None:
    env = rollout["env"]
    obs = rollout["obs"][0, 0]
    at_goal = jnp.concatenate([obs[: env.state_dim], env.achieved_goal(obs)])
    direction = jnp.array([0.0, 0.0, 1.0])  # also the height counts
    just_in = at_goal.at[env.state_dim :].add(0.99 * env.goal_reach_thresh * direction)
    just_out = at_goal.at[env.state_dim :].add(1.01 * env.goal_reach_thresh * direction)
    assert env.distance_to_goal(at_goal) == 0.0
    assert env.distance_to_goal(just_in) < env.goal_reach_thresh
    assert not env.distance_to_goal(just_out) < env.goal_reach_thresh


def test_every_episode_draws_a_new_goal(rollout: dict) -> None:
    traj, goal = np.asarray(rollout["traj"]), np.asarray(rollout["goal"])
    for slot in range(NUM_ENVS):
        episodes = np.unique(traj[:, slot])
        assert len(episodes) >= STEPS // EPISODE  # auto-reset happened
        per_episode = {tuple(goal[traj[:, slot] == e, slot][0].round(5)) for e in episodes}
        assert len(per_episode) > 1, "consecutive episodes in one slot share a goal"
        for e in episodes:  # within an episode the goal never changes
            assert np.ptp(goal[traj[:, slot] == e, slot], axis=0).max() == 0.0


def test_goal_distribution(rollout: dict) -> None:
    env = rollout["env"]
    goal = np.asarray(rollout["goal"]).reshape(-1, 3)
    np.testing.assert_allclose(goal[:, 2], 1.25)
    if isinstance(env, MazeTask):  # goals are 'G' cell centres
        centres = env.layout.goal_centres(env.cell_size)
        assert np.abs(goal[:, None, :2] - centres[None]).max(-1).min(-1).max() < 1e-5
    else:  # 1 to 5 m from the (noisy) start at the origin
        radius = np.linalg.norm(goal[:, :2], axis=1)
        assert radius.min() >= 1.0 - 1e-5 and radius.max() <= 5.0 + 1e-5
        assert np.ptp(np.arctan2(goal[:, 1], goal[:, 0])) > 3.0


def test_falls_terminate_and_success_does_not(rollout: dict) -> None:
    """Slot 0 lifted to 3 m and slot 1 dropped to 0.5 m end at once; slot 2 at its goal not."""
    env, first = rollout["env"], rollout["first"]
    ps = first.physics.pipeline_state
    q = ps.q.at[0, 2].set(3.0).at[1, 2].set(0.5)
    moved = jax.jit(jax.vmap(env.sim.init))(q, ps.qd)
    goal = first.physics.goal.at[2].set(q[2, :3])
    state = first.replace(physics=first.physics.replace(pipeline_state=moved, goal=goal))
    _, (_, _, _, done, trunc) = rollout["run"](state, jax.random.key(2))
    assert float(done[0, 0]) == 1.0 and float(done[0, 1]) == 1.0
    assert float(done[0, 2]) == 0.0 and float(done[0, 3]) == 0.0
    assert float(trunc[0, 0]) == 0.0  # a fall, not the time limit
    # Humanoid height range: z in [1, 2] is healthy.
    assert not bool(env.fallen(jax.tree.map(lambda x: x[2], moved)))


# ---- maze family: walls and registered names, no physics compile ----


def test_humanoid_maze_walls_match_layout() -> None:
    maze = MazeLayout.from_name("HARDEST_MAZE")
    root = ET.fromstring(HumanoidMaze.maze_xml(maze))
    walls = {
        g.get("name"): g for g in root.iter("geom") if (g.get("name") or "").startswith("wall_")
    }
    assert len(walls) == len(maze.wall_cells)
    for i, j in maze.wall_cells:
        g = walls[f"wall_{i}_{j}"]
        assert g.get("type") == "box"
        np.testing.assert_allclose([float(v) for v in g.get("pos").split()], [2 * i, 2 * j, 0.5])
        np.testing.assert_allclose([float(v) for v in g.get("size").split()], [1.0, 1.0, 0.5])
    # The feet (contype 1) hit walls (conaffinity 3); nothing else of the body collides.
    contype = {g.get("name"): g.get("contype") for g in root.iter("geom")}
    assert contype["left_foot"] == contype["right_foot"] == "1"
    assert all(walls[w].get("conaffinity") == "3" for w in walls)
    others = {n: c for n, c in contype.items() if n and not n.startswith("wall_")}
    assert {n for n, c in others.items() if c not in (None, "0")} == {
        "left_foot",
        "right_foot",
    }


def _maze_specs() -> list[str]:
    """Registered names whose factory is a maze class on a layout."""
    names = []
    for spec in list_envs():
        f = spec.factory
        if isinstance(f, functools.partial) and f.args and isinstance(f.args[0], MazeLayout):
            names.append(spec.name)
    return names


def test_every_registered_maze_builds_its_layout() -> None:
    """Each maze name: its XML compiles in MuJoCo with one wall per '#', and its start/goal
    table uses free cells only: 'R' to every 'G' cell, or pairs k cells apart (stitching)."""
    mujoco = pytest.importorskip("mujoco")
    names = _maze_specs()
    expected = {
        "humanoid_u_maze",
        "humanoid_u_maze_eval",
        "humanoid_big_maze",
        "humanoid_big_maze_eval",
        "humanoid_hardest_maze",
        "ant_u2_maze",
        "ant_u3_maze",
        "ant_u6_maze",
        "ant_u7_maze",
        "ant_u3_maze_single_eval",
        "ant_u5_maze_single_eval",
        "ant_u7_maze_eval",
        "ant_u_maze_eval_5f6f",
        "ant_u4_maze_stitch_1f2f3f4f",
        "point_u_maze_stitch_1f2f3f",
        "point_u_maze_eval_5f6f",
    }
    assert expected <= set(names)
    models: dict = {}
    for name in names:
        f = get_spec(name).factory
        assert isinstance(f, functools.partial)
        cls, layout, gaps = f.func, f.args[0], f.keywords.get("gaps")
        if isinstance(cls, type) and issubclass(cls, MazeTask):
            key = (cls, layout.wall_cells)
            if key not in models:  # same robot and walls: one MuJoCo model
                models[key] = mujoco.MjModel.from_xml_string(cls.maze_xml(layout))
            model = models[key]
            walls = [model.geom(i).name for i in range(model.ngeom)]
            assert sum(w.startswith("wall_") for w in walls) == len(layout.wall_cells), name
        table = layout_pairs(layout) if gaps is None else stitch_pairs(layout, gaps)
        cells = [tuple(int(v) for v in c) for c in table.cells.reshape(-1, 2)]
        assert all(layout.is_free(c) for c in cells), name
        if gaps is None:
            assert {tuple(c) for c in table.cells[:, 0].tolist()} == {layout.start_cell}
            assert [tuple(c) for c in table.cells[:, 1].tolist()] == list(layout.goal_cells)
        else:
            dists = {layout.path_distance(tuple(s), tuple(g)) for s, g in table.cells.tolist()}
            assert dists == set(gaps), name
    big_eval = get_spec("humanoid_big_maze_eval").factory.args[0]  # type: ignore[attr-defined]
    extra = set(big_eval.goal_cells) - set(MazeLayout.from_name("BIG_MAZE_EVAL").goal_cells)
    assert extra == {(2, 5)}


def test_one_epoch_of_training_on_humanoid(tmp_path: Path) -> None:
    """The tiniest end-to-end run on humanoid: prefill, one epoch, one evaluation."""
    cfg = small_config(
        tmp_path / "run",
        env="humanoid",
        episode_length=EPISODE,
        num_envs=4,
        unroll_length=10,
        sgd_steps=2,
        total_env_steps=40,
        num_epochs=1,
        prefill_steps=EPISODE,
        replay_capacity=2 * EPISODE,
        num_eval_envs=4,
        network=NetworkConfig(depth=4, width=16, repr_dim=16),
        crl=CRLConfig(batch_size=8),
    )
    result = train(cfg, sinks=[], verbose=False)
    records = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["env_steps"] == 40
    for key in ("eval/success_rate", "eval/final_distance", "critic/loss", "actor/loss"):
        assert np.isfinite(records[0][key]), key
