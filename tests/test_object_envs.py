"""Object tasks on Brax (pusher, ant_ball, ant_push) and one-epoch training on reacher/ant.

Compiling Brax on a CPU is slow, so each task compiles ONE program: a 100-step random
rollout through the training wrappers whose first step is scripted to probe the task's
rules (slot 0 lifted 3 m up: an ant must terminate; slot 1 placed on its goal: no episode
ends on success; ant_push slot 2 driven into the block), plus the evaluator on the same
task. pusher_easy differs from pusher_hard only in its goal box and radius, checked
without physics. The training smoke runs use the smallest config that trains.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

pytest.importorskip("brax")

from deepcrl.config import CRLConfig, NetworkConfig
from deepcrl.envs import make, wrappers
from deepcrl.envs.ant import ANT_Q_SIZE
from deepcrl.envs.ant_push import BLOCK_CELL
from deepcrl.envs.pusher import GOAL_BOXES, MIN_GOAL_DISTANCE, OBJECT_BOX
from deepcrl.evaluate import make_evaluator
from deepcrl.runner import train
from helpers import small_config

QUICK_COMPILE = True
"""Physics compiles dominate this module: compile it unoptimised (conftest.quick_compile)."""
NUM_ENVS, STEPS, EPISODE = 4, 100, 20
PUSH_STEPS = 15
"""ant_push: slot 2 is driven into the block for this many steps of its first episode."""
TASKS = ("pusher_hard", "ant_ball", "ant_push")


def _reinit(env: Any, ps: Any, slot: int, q: jax.Array, qd: jax.Array) -> Any:
    """Batched pipeline state ``ps`` with env ``slot`` re-initialised at (q, qd)."""
    fresh = jax.vmap(env.sim.init)(ps.q.at[slot].set(q), ps.qd.at[slot].set(qd))
    pick = jnp.arange(NUM_ENVS) == slot  # (N,)
    return jax.tree.map(
        lambda old, new: jnp.where(pick.reshape((-1,) + (1,) * (old.ndim - 1)), new, old),
        ps,
        fresh,
    )


def _prepare(env: Any, name: str, state: Any) -> Any:
    """Step-0 probes: slot 1 sits on its goal; an ant in slot 0 is lifted 3 m up; the
    ant_push ant in slot 2 stands 3 m in front of the block, facing it (+y)."""
    phys = state.physics
    ps = phys.pipeline_state
    achieved = env.achieved_goal(state.obs[1])
    goal = phys.goal.at[1].set(achieved)
    obs = state.obs.at[1, env.state_dim :].set(achieved)
    if name.startswith("ant"):
        ps = _reinit(env, ps, 0, ps.q[0].at[2].set(3.0), ps.qd[0])
    if name == "ant_push":
        block = env.layout.cell_centres([BLOCK_CELL], env.cell_size)[0]
        ps = _reinit(env, ps, 2, ps.q[2].at[:2].set(block - jnp.array([0.0, 3.0])), ps.qd[2])
    return state.replace(physics=phys.replace(pipeline_state=ps, goal=goal), obs=obs)


def _drive(env: Any, name: str, state: Any, t: jax.Array) -> Any:
    """ant_push: for the first PUSH_STEPS steps, slot 2's torso moves at 1.5 m/s in +y."""
    if name != "ant_push":
        return state
    ps = state.physics.pipeline_state
    pushed = _reinit(env, ps, 2, ps.q[2], ps.qd[2].at[1].set(1.5))
    ps = jax.tree.map(lambda a, b: jnp.where(t < PUSH_STEPS, b, a), ps, pushed)
    return state.replace(physics=state.physics.replace(pipeline_state=ps))


def _rollout(name: str) -> dict:
    """The task's one compiled program: the probed rollout and an evaluator run."""
    env = make(name)
    venv = wrappers.wrap_for_training(env, episode_length=EPISODE, num_envs=NUM_ENVS)
    evaluate = make_evaluator(
        env, EPISODE, NUM_ENVS, lambda p, obs: jnp.tanh(obs[:, : env.action_dim] * p)
    )

    @jax.jit
    def run(key: jax.Array) -> tuple:
        k_reset, k_act, k_eval = jax.random.split(key, 3)
        state = _prepare(env, name, venv.reset(k_reset))

        def body(s: Any, xs: tuple) -> tuple:
            t, k = xs
            s = _drive(env, name, s, t)
            a = jax.random.uniform(k, (NUM_ENVS, env.action_dim), minval=-1.0, maxval=1.0)
            nxt = venv.step(s, a)
            # obs of the state acted in, its goal and traj id, then the step's done flags.
            rec = (s.obs, s.physics.goal, s.info["traj_id"], nxt.done, nxt.info["truncation"])
            return nxt, rec

        xs = (jnp.arange(STEPS), jax.random.split(k_act, STEPS))
        final, recs = jax.lax.scan(body, state, xs)
        return final, recs, evaluate(jnp.float32(0.5), k_eval)

    final, (obs, goal, traj, done, trunc), metrics = run(jax.random.key(0))
    return {
        "name": name,
        "env": env,
        "final": final,
        "obs": np.asarray(obs),
        "goal": np.asarray(goal),
        "traj": np.asarray(traj),
        "done": np.asarray(done),
        "trunc": np.asarray(trunc),
        "metrics": jax.device_get(metrics),
    }


@pytest.fixture(scope="module", params=TASKS)
def rollout(request: pytest.FixtureRequest) -> dict:
    """One compiled rollout per task, shared by every test in this module."""
    return _rollout(request.param)


def test_sizes_and_finite_obs(rollout: dict) -> None:
    env, obs = rollout["env"], rollout["obs"]
    expected = {"pusher_hard": (20, 23, 7), "ant_ball": (31, 33, 8), "ant_push": (31, 33, 8)}
    assert (env.state_dim, env.obs_dim, env.action_dim) == expected[rollout["name"]]
    assert obs.shape == (STEPS, NUM_ENVS, env.obs_dim)
    assert np.isfinite(obs).all()


def test_obs_is_state_then_goal(rollout: dict) -> None:
    env, obs, goal = rollout["env"], rollout["obs"], rollout["goal"]
    np.testing.assert_allclose(env.commanded_goal(obs), goal, atol=1e-6)
    ps = rollout["final"].physics.pipeline_state
    achieved = env.achieved_goal(rollout["final"].obs)
    if rollout["name"] == "pusher_hard":  # object body position
        np.testing.assert_allclose(achieved, ps.x.pos[:, env._object], atol=1e-6)
    elif rollout["name"] == "ant_push":  # torso xy; the block's xy are the extra entries
        np.testing.assert_allclose(achieved, ps.q[:, :2], atol=1e-6)
        block = ps.x.pos[:, env.sim.sys.link_names.index("block"), :2]
        np.testing.assert_allclose(rollout["final"].obs[:, 29:31], block, atol=1e-6)


def test_ant_ball_state_holds_the_ball_position(rollout: dict) -> None:
    if rollout["name"] != "ant_ball":
        pytest.skip("ant_ball only")
    env, final = rollout["env"], rollout["final"]
    ps = final.physics.pipeline_state
    assert env.goal_indices == (29, 30)
    ball = ps.x.pos[:, env.sim.sys.link_names.index("ball"), :2]
    np.testing.assert_allclose(env.achieved_goal(final.obs), ball, atol=1e-6)
    np.testing.assert_allclose(ball, ps.q[:, ANT_Q_SIZE : ANT_Q_SIZE + 2], atol=1e-5)
    # The ant's own 29 entries are its q[:15] ++ qd[:14].
    np.testing.assert_allclose(final.obs[:, :15], ps.q[:, :15], atol=1e-6)


def test_success_radius(rollout: dict) -> None:
    env = rollout["env"]
    obs = jnp.asarray(rollout["obs"][0, 0])
    at_goal = jnp.concatenate([obs[: env.state_dim], env.achieved_goal(obs)])
    direction = jnp.zeros(env.goal_dim).at[0].set(1.0)
    just_in = at_goal.at[env.state_dim :].add(0.99 * env.goal_reach_thresh * direction)
    just_out = at_goal.at[env.state_dim :].add(1.01 * env.goal_reach_thresh * direction)
    assert env.distance_to_goal(at_goal) < env.goal_reach_thresh
    assert env.distance_to_goal(just_in) < env.goal_reach_thresh
    assert not env.distance_to_goal(just_out) < env.goal_reach_thresh


def test_every_episode_draws_a_new_goal(rollout: dict) -> None:
    traj, goal = rollout["traj"], rollout["goal"]
    for slot in range(NUM_ENVS):
        episodes = np.unique(traj[:, slot])
        assert len(episodes) >= STEPS // EPISODE  # auto-reset happened
        per_episode = {tuple(goal[traj[:, slot] == e, slot][0].round(5)) for e in episodes}
        assert len(per_episode) > 1, "consecutive episodes in one slot share a goal"
        for e in episodes:  # within an episode the goal never changes
            assert np.ptp(goal[traj[:, slot] == e, slot], axis=0).max() == 0.0


def test_termination_rule(rollout: dict) -> None:
    done, trunc = rollout["done"], rollout["trunc"]
    time_limit = (np.arange(1, STEPS + 1) % EPISODE == 0)[:, None]
    if rollout["name"] == "pusher_hard":  # never terminates early, even on its goal
        np.testing.assert_array_equal(done, np.broadcast_to(time_limit, done.shape))
        assert (trunc == done).all()
        return
    # Ants: lifted 3 m (slot 0) -> a fall at the first step; on its goal (slot 1) -> none.
    assert done[0, 0] == 1.0 and trunc[0, 0] == 0.0
    assert done[0, 1] == 0.0
    assert (trunc <= done).all()  # a truncation is always an episode end


def test_on_goal_counts_as_success(rollout: dict) -> None:
    env, obs = rollout["env"], rollout["obs"]
    # Slot 1 was put on its goal at step 0; one control step later it is still within it.
    assert float(env.distance_to_goal(obs[1, 1])) < env.goal_reach_thresh


def test_evaluator_reports_finite_metrics(rollout: dict) -> None:
    metrics = rollout["metrics"]
    for key in ("eval/time_at_goal", "eval/success_rate", "eval/final_distance"):
        assert np.isfinite(metrics[key])
    assert 0 <= metrics["eval/time_at_goal"] <= EPISODE
    assert np.isfinite(metrics["eval/distance"])  # the env's own metric, averaged


def test_ant_push_block_moves_when_pushed(rollout: dict) -> None:
    if rollout["name"] != "ant_push":
        pytest.skip("ant_push only")
    block = rollout["obs"][:, :, 29:31]  # (T, N, 2)
    start = np.asarray(rollout["env"].layout.cell_centres([BLOCK_CELL], 4.0)[0])
    np.testing.assert_allclose(block[0], np.broadcast_to(start, (NUM_ENVS, 2)), atol=1e-3)
    moved = block[PUSH_STEPS, 2] - start
    assert moved[1] > 0.3, f"the driven ant did not push the block: {moved}"
    assert abs(moved[0]) < 0.1  # straight ahead, along the push
    # Undriven slots never touch it within their first few steps.
    np.testing.assert_allclose(block[5, 1], start, atol=1e-3)


# ---- pusher goal distributions (no physics compiled) ----


@pytest.mark.parametrize("name", ["pusher_easy", "pusher_hard"])
def test_pusher_goals_in_box_and_far_enough(name: str) -> None:
    env = make(name)
    assert env.goal_reach_thresh == {"pusher_easy": 0.1, "pusher_hard": 0.05}[name]
    obj, goal = jax.jit(jax.vmap(env.sample_offsets))(jax.random.split(jax.random.key(1), 4096))
    obj, goal = np.asarray(obj), np.asarray(goal)
    assert (np.linalg.norm(obj - goal, axis=1) >= MIN_GOAL_DISTANCE).all()
    for values, box in ((obj, OBJECT_BOX), (goal, GOAL_BOXES[env.kind])):
        lo, hi = np.array(box).T
        assert (values >= lo).all() and (values <= hi).all()
        assert (values.min(0) < lo + 0.05).all() and (values.max(0) > hi - 0.05).all()


def test_ant_ball_start_distribution() -> None:
    env = make("ant_ball")
    keys = jax.random.split(jax.random.key(2), 2048)
    goals = jax.vmap(lambda k: env.sample_start_goal(k)[1])(keys)
    balls = jax.jit(jax.vmap(env.ball_start))(keys, goals)
    np.testing.assert_allclose(np.linalg.norm(goals, axis=1), 5.0, rtol=1e-5)
    offsets = np.asarray(balls - 0.2 * goals)
    np.testing.assert_allclose(np.linalg.norm(offsets, axis=1), 1.0, rtol=1e-5)
    assert np.linalg.norm(balls, axis=1).min() >= 1.2 - 1e-4


# ---- one epoch of training on the Brax reference tasks ----


def _tiny_brax_config(run_dir: Path, env: str) -> Any:
    """The smallest CRL run that trains one epoch on a Brax task."""
    return small_config(
        run_dir,
        env=env,
        episode_length=10,
        num_envs=4,
        unroll_length=5,
        sgd_steps=2,
        total_env_steps=4 * 5,
        num_epochs=1,
        prefill_steps=10,
        replay_capacity=20,
        num_eval_envs=4,
        network=NetworkConfig(depth=4, width=16, repr_dim=8),
        crl=CRLConfig(batch_size=8),
    )


TRAIN_METRICS = (
    "env_steps",
    "eval/time_at_goal",
    "eval/success_rate",
    "eval/final_distance",
    "critic/loss",
    "actor/loss",
    "alpha",
)


@pytest.mark.parametrize("env_name", ["reacher", "ant"])
def test_one_training_epoch(tmp_path: Path, env_name: str) -> None:
    result = train(_tiny_brax_config(tmp_path / env_name, env_name), sinks=[], verbose=False)
    records = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1
    missing = [k for k in TRAIN_METRICS if k not in records[0]]
    assert not missing
    assert all(np.isfinite(records[0][k]) for k in TRAIN_METRICS)
    assert records[0]["env_steps"] == 20
