"""MJX arm tasks: interface, goals, termination, and that grasp-lift and push really work.

MJX compiles slowly on a CPU (tens of seconds per program), so only arm_push_easy is
stepped: one jitted reset and ONE compiled 100-step program through the full training
wrapper stack, called twice: with random actions (interface checks) and with scripted
actions (env 0 grasps and lifts its cube, env 1 pushes its cube sideways). arm_reach
compiles a reset only; the other cube tasks are checked without compiling physics.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("mujoco.mjx")

from deepcrl.envs import arm_mjcf, make, wrappers
from deepcrl.evaluate import make_evaluator

QUICK_COMPILE = True
"""Physics compiles dominate this module: compile it unoptimised (conftest.quick_compile)."""
NUM_ENVS, STEPS, EPISODE = 4, 100, 20
CUBE_TASKS = ("arm_push_easy", "arm_push_hard", "arm_binpick_easy", "arm_binpick_hard")


@pytest.fixture(scope="module")
def push() -> dict:
    """arm_push_easy: the wrapped env, its reset state and the compiled STEPS-step program."""
    env = make("arm_push_easy")
    venv = wrappers.wrap_for_training(env, episode_length=EPISODE, num_envs=NUM_ENVS)

    @jax.jit
    def run(state, actions):
        def body(s, a):
            nxt = venv.step(s, a)
            # obs of the state acted in, its goal and traj id, then the step's done flags.
            rec = (s.obs, s.physics.goal, s.info["traj_id"], nxt.done, nxt.info["truncation"])
            return nxt, rec

        return jax.lax.scan(body, state, actions)

    start = jax.jit(venv.reset)(jax.random.key(0))
    return {"env": env, "venv": venv, "start": start, "run": run}


@pytest.fixture(scope="module")
def rollout(push: dict) -> dict:
    """Uniform random actions from the reset state."""
    env = push["env"]
    actions = jax.random.uniform(
        jax.random.key(1), (STEPS, NUM_ENVS, env.action_dim), minval=-1.0, maxval=1.0
    )
    final, (obs, goal, traj, done, trunc) = push["run"](push["start"], actions)
    return {
        "env": env,
        "final": final,
        "obs": obs,
        "goal": goal,
        "traj": traj,
        "done": done,
        "trunc": trunc,
    }


def _action(env, yaw: float, r: float, z: float, closed: bool) -> np.ndarray:
    """Action whose servo targets put the finger centres at (yaw, r, z), hand pointing down."""
    q = np.array([yaw, *arm_mjcf.hand_down_pose(r, z)])
    lo, hi = np.array(arm_mjcf.ARM_RANGES).T
    return np.append(2 * (q - lo) / (hi - lo) - 1, 1.0 if closed else -1.0)


def _towards(x: float, y: float) -> tuple[float, float]:
    """(yaw, r) of the table point (x, y): yaw 0 faces +y, positive yaw turns towards -x."""
    return math.atan2(-x, y), math.hypot(x, y)


def test_declared_sizes_and_finite_obs(rollout: dict) -> None:
    env, obs = rollout["env"], rollout["obs"]
    assert (env.state_dim, env.goal_indices, env.action_dim) == (17, (0, 1, 2), 5)
    assert obs.shape == (STEPS, NUM_ENVS, env.obs_dim) == (STEPS, NUM_ENVS, 20)
    assert np.isfinite(np.asarray(obs)).all()
    assert env.sim.dt == pytest.approx(0.05)
    assert env.default_episode_length == 150


def test_obs_is_state_then_goal(rollout: dict) -> None:
    env, final = rollout["env"], rollout["final"]
    np.testing.assert_allclose(env.commanded_goal(rollout["obs"]), rollout["goal"], atol=1e-6)
    data = final.physics.data
    obs = np.asarray(final.obs)
    # [0:7] cube qpos (xyz, quaternion); [7:13] fingertips; [13:17] arm joint angles.
    np.testing.assert_allclose(obs[:, :7], data.qpos[:, 4 + 2 :], atol=1e-6)
    np.testing.assert_allclose(obs[:, 13:17], data.qpos[:, :4], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(obs[:, 3:7], axis=1), 1.0, atol=1e-4)
    # The two finger centres are at most 2 * FINGER_OPEN apart (plus numerical slack).
    gap = np.linalg.norm(obs[:, 7:10] - obs[:, 10:13], axis=1)
    assert (gap <= 2 * arm_mjcf.FINGER_OPEN + 1e-3).all()


def test_success_radius(rollout: dict) -> None:
    env = rollout["env"]
    obs = rollout["obs"][0, 0]
    at_goal = jnp.concatenate([obs[: env.state_dim], env.achieved_goal(obs)])
    direction = jnp.zeros(env.goal_dim).at[1].set(1.0)
    just_out = at_goal.at[env.state_dim :].add(1.01 * env.goal_reach_thresh * direction)
    just_in = at_goal.at[env.state_dim :].add(0.99 * env.goal_reach_thresh * direction)
    assert env.goal_reach_thresh == 0.1
    assert env.distance_to_goal(at_goal) == 0.0
    assert env.distance_to_goal(just_in) < env.goal_reach_thresh
    assert not env.distance_to_goal(just_out) < env.goal_reach_thresh


def test_every_episode_draws_a_new_goal(rollout: dict) -> None:
    traj, goal, obs = np.asarray(rollout["traj"]), np.asarray(rollout["goal"]), rollout["obs"]
    for slot in range(NUM_ENVS):
        episodes = np.unique(traj[:, slot])
        assert len(episodes) == STEPS // EPISODE
        first = traj[:, slot][:, None] == episodes[None]  # (STEPS, episodes)
        starts = np.argmax(first, axis=0)
        goals = {tuple(goal[t, slot].round(5)) for t in starts}
        cubes = {tuple(np.asarray(obs[t, slot, :2]).round(5)) for t in starts}
        assert len(goals) == len(episodes) and len(cubes) == len(episodes)
        for e in episodes:  # within an episode the goal never changes
            assert np.ptp(goal[traj[:, slot] == e, slot], axis=0).max() == 0.0


def test_never_terminates_early(rollout: dict) -> None:
    done, trunc = np.asarray(rollout["done"]), np.asarray(rollout["trunc"])
    steps = np.arange(1, STEPS + 1)[:, None]
    np.testing.assert_array_equal(done, (steps % EPISODE == 0) * np.ones_like(done))
    assert (trunc == done).all()


def test_evaluator_reports_metrics(push: dict) -> None:
    env = push["env"]
    zero = lambda params, obs: jnp.zeros((obs.shape[0], env.action_dim))
    metrics = jax.jit(make_evaluator(env, 3, 2, zero))(None, jax.random.key(5))
    for key in ("success_rate", "final_distance", "min_distance", "time_at_goal", "distance"):
        assert np.isfinite(float(metrics[f"eval/{key}"]))


def test_scripted_grasp_lifts_and_push_moves_the_cube(push: dict) -> None:
    """Env 0: open above the cube, descend, close, lift. Env 1: push the cube along +x."""
    env, start = push["env"], push["start"]
    cubes = np.asarray(start.obs[:, :3])  # (NUM_ENVS, 3)
    actions = np.zeros((STEPS, NUM_ENVS, env.action_dim), np.float32)
    yaw, r = _towards(*cubes[0, :2])
    for t, (z, closed) in enumerate(
        [(0.15, False)] * 6 + [(0.045, False)] * 5 + [(0.045, True)] * 4 + [(0.3, True)] * 5
    ):
        actions[t, 0] = _action(env, yaw, r, z, closed)
    cx, cy = cubes[1, :2]
    for t in range(EPISODE):  # behind the cube (-x), down to the table, then sweep +x
        x = cx - 0.1 if t < 10 else cx - 0.1 + 0.025 * (t - 9)
        z = 0.15 if t < 5 else 0.03
        actions[t, 1] = _action(env, *_towards(x, cy), z, closed=True)
    _, (obs, *_) = push["run"](start, jnp.asarray(actions))
    obs = np.asarray(obs)  # obs[t] is the state acted in at step t; obs[19] after 19 steps
    lifted, pushed = obs[EPISODE - 1, 0, :3], obs[EPISODE - 1, 1, :3]
    assert lifted[2] > cubes[0, 2] + 0.15, f"cube not lifted: {cubes[0]} -> {lifted}"
    eef = (obs[EPISODE - 1, 0, 7:10] + obs[EPISODE - 1, 0, 10:13]) / 2
    assert np.linalg.norm(eef - lifted) < 0.05  # held between the fingers
    assert pushed[0] > cubes[1, 0] + 0.05, f"cube not pushed: {cubes[1]} -> {pushed}"


@pytest.mark.parametrize("name", CUBE_TASKS)
def test_cube_and_goal_distributions(name: str) -> None:
    env = make(name)
    assert (env.state_dim, env.obs_dim, env.action_dim) == (17, 20, 5)
    assert env.goal_reach_thresh == 0.1 and env.default_episode_length == 150
    cube, goal = jax.vmap(env.sample_cube_goal)(jax.random.split(jax.random.key(0), 512))
    cube, goal = np.asarray(cube), np.asarray(goal)
    for xy, centre in ((cube, env.cube_centre), (goal[:, :2], env.goal_centre)):
        offset = xy - centre
        assert np.abs(offset).max() <= env.spread + 1e-6
        assert np.abs(offset).max() > 0.9 * env.spread  # fills the square
    np.testing.assert_allclose(goal[:, 2], arm_mjcf.CUBE_HALF)
    m = env.sim.mj_model
    walls = [i for i in range(m.ngeom) if m.geom(i).name.startswith("bin")]
    if "binpick" in name:  # two bins of four walls; each region fits inside its bin
        assert len(walls) == 8
        for i, centre in enumerate((env.cube_centre, env.goal_centre)):  # bin0: cube's
            own = [w for w in walls if m.geom(w).name.startswith(f"bin{i}_")]
            inner = [np.abs(m.geom_pos[w][:2] - centre).max() for w in own]
            assert len(own) == 4
            np.testing.assert_allclose(inner, inner[0], atol=1e-6)  # a square around it
            assert inner[0] - arm_mjcf.WALL_HALF_THICK >= env.spread + arm_mjcf.CUBE_HALF
    else:
        assert walls == []


def test_reach_reset_layout_and_goal_box() -> None:
    env = make("arm_reach")
    assert (env.state_dim, env.goal_indices, env.action_dim) == (13, (7, 8, 9), 4)
    assert env.default_episode_length == 100 and env.goal_reach_thresh == 0.1
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), 256))
    obs, goal = np.asarray(state.obs), np.asarray(state.physics.goal)
    assert obs.shape == (256, 16) and np.isfinite(obs).all()
    np.testing.assert_allclose(obs[:, 13:], goal)
    assert (np.abs(goal - env.goal_centre).max(0) <= 0.2 + 1e-6).all()
    assert (np.abs(goal - env.goal_centre).max(0) > 0.18).all()
    # At reset: EEF near the home point, at rest, hand pointing down (wrist above the EEF).
    np.testing.assert_allclose(obs[:, 7:10].mean(0), [0.0, 0.35, 0.3], atol=0.03)
    np.testing.assert_array_equal(obs[:, 10:13], 0.0)
    np.testing.assert_allclose(
        obs[:, 4:7] - obs[:, 7:10], [[0, 0, arm_mjcf.FINGER_OUT]] * 256, atol=0.05
    )
    assert len({tuple(g.round(5)) for g in goal}) == 256


def test_mujoco_view_draws_the_arm_scene(rollout: dict) -> None:
    """`deepcrl render`'s MuJoCo view accepts the recorded qpos of an arm task."""
    from deepcrl.config import ConfigError
    from deepcrl.render import MujocoView

    env, final = rollout["env"], rollout["final"]
    qpos = np.asarray(final.physics.render_positions())
    assert qpos.shape == (NUM_ENVS, env.sim.mj_model.nq)
    try:
        view = MujocoView(env, width=160, height=140)
    except ConfigError as e:  # a machine without EGL/OSMesa
        pytest.skip(str(e))
    try:
        frame = view.frame(qpos[0], np.asarray(final.physics.goal[0]), "arm", ended=False)
    finally:
        view.close()
    assert frame.shape == (140, 160, 3)
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 20  # not blank
