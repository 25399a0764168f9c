"""Point-mass tasks, maze layouts, registry and wrappers (CPU, a few seconds)."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepcrl import envs
from deepcrl.envs import maze_task, wrappers
from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.maze_layouts import LAYOUTS, MazeLayout
from deepcrl.envs.point_mass import PointMassMaze, PointMassPhysics
from deepcrl.envs.registry import UnknownEnvError

CPU_ENVS = [spec.name for spec in envs.list_envs() if spec.cpu_friendly]


def _rollout(env: GoalEnv, key: jax.Array, num_steps: int, scale: float = 1.0):
    """Reset a batched env and take ``num_steps`` uniform random actions in +-scale.

    Returns the reset state and the stacked per-step states (leading axis num_steps).
    """
    key_reset, key_act = jax.random.split(key)

    @jax.jit
    def run(key_reset: jax.Array, key_act: jax.Array):
        first = env.reset(key_reset)
        batch = first.obs.shape[0]

        def body(state: EnvState, k: jax.Array):
            action = jax.random.uniform(k, (batch, env.action_dim), minval=-scale, maxval=scale)
            state = env.step(state, action)
            return state, state

        _, states = jax.lax.scan(body, first, jax.random.split(key_act, num_steps))
        return first, states

    return run(key_reset, key_act)


def _at(env: PointMassMaze, pos: tuple[float, float], goal: tuple[float, float]) -> EnvState:
    """A single-env state with the point at ``pos`` and the goal at ``goal``."""
    state = env.reset(jax.random.key(0))
    p, g = jnp.asarray(pos, jnp.float32), jnp.asarray(goal, jnp.float32)
    return state.replace(physics=PointMassPhysics(pos=p, goal=g), obs=jnp.concatenate([p, g]))


def _pos(state: EnvState) -> np.ndarray:
    """Position of a single-env point-mass state as numpy."""
    return np.asarray(state.physics.pos)


# ---------------------------------------------------------------- every registered task


@pytest.mark.parametrize("name", CPU_ENVS)
def test_reset_step_jit_vmap_finite(name: str) -> None:
    env = envs.make(name)
    batched = wrappers.wrap_for_eval(env, episode_length=1000, num_envs=8)
    first, states = _rollout(batched, jax.random.key(1), num_steps=100, scale=1.5)
    assert first.obs.shape == (8, env.obs_dim)
    assert states.obs.shape == (100, 8, env.obs_dim)
    assert env.obs_dim == env.state_dim + env.goal_dim
    assert bool(jnp.all(jnp.isfinite(states.obs)))
    # obs = state ++ goal, and the goal never changes within an episode.
    np.testing.assert_array_equal(states.obs[..., :2], states.physics.pos)
    np.testing.assert_array_equal(states.obs[..., 2:], states.physics.goal)
    np.testing.assert_array_equal(env.commanded_goal(states.obs[-1]), first.obs[:, 2:])
    np.testing.assert_allclose(
        states.metrics["distance"], env.distance_to_goal(states.obs), rtol=1e-6
    )
    assert not bool(states.done.any())


def test_reset_draws_new_start_and_goal_per_key() -> None:
    env = envs.make("point_u_maze")
    keys = jax.random.split(jax.random.key(3), 64)
    reset = jax.jit(jax.vmap(env.reset))
    states = reset(keys)
    starts, goals = np.asarray(states.physics.pos), np.asarray(states.physics.goal)
    assert len({tuple(s) for s in starts}) == 64
    assert len({tuple(g) for g in goals}) == 64
    # Start within start_noise of the R centre; goal within goal_noise of some G centre.
    assert np.abs(starts - env.layout.start_centre(1.0)).max() <= env.start_noise + 1e-6
    offsets = np.abs(goals[:, None, :] - env.layout.goal_centres(1.0)[None]).max(-1)  # (64, 6)
    assert (offsets.min(axis=1) <= env.goal_noise + 1e-6).all()
    # Goals spread over several cells; the same key gives the same draw.
    assert len(set(offsets.argmin(axis=1).tolist())) >= 4
    np.testing.assert_array_equal(reset(keys).obs, states.obs)


def test_success_radius() -> None:
    env = envs.make("point_u_maze")
    goal = jnp.array([3.0, 2.0])
    assert float(env.distance_to_goal(jnp.concatenate([goal, goal]))) < env.goal_reach_thresh
    outside = goal + jnp.array([env.goal_reach_thresh + 1e-3, 0.0])
    assert float(env.distance_to_goal(jnp.concatenate([outside, goal]))) >= env.goal_reach_thresh


# ---------------------------------------------------------------- point-mass dynamics


def test_moves_through_free_space_until_walls() -> None:
    env = PointMassMaze(MazeLayout.from_name("U_MAZE"))
    step = jax.jit(env.step)
    state = _at(env, (1.05, 1.05), (3.0, 1.0))
    state = step(state, jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(_pos(state), [1.05, 1.25], atol=1e-6)  # one full step
    for _ in range(20):  # along the top corridor until the square touches column 4
        state = step(state, jnp.array([0.0, 1.0]))
    np.testing.assert_allclose(_pos(state), [1.05, 3.25], atol=1e-5)
    for _ in range(20):  # down the right corridor until the bottom wall
        state = step(state, jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(_pos(state), [3.25, 3.25], atol=1e-5)
    for _ in range(20):  # along the bottom corridor to the far end
        state = step(state, jnp.array([0.0, -1.0]))
    np.testing.assert_allclose(_pos(state), [3.25, 0.65], atol=1e-5)
    assert float(state.metrics["distance"]) < env.goal_reach_thresh + 0.35


def test_walls_block_each_axis_separately() -> None:
    env = PointMassMaze(MazeLayout.from_name("U_MAZE"))
    # (2, 1) is a wall: from x = 1.35 a full +x step would put the square's edge at 1.65.
    moved = env.step(_at(env, (1.35, 1.0), (3.0, 1.0)), jnp.array([1.0, 1.0]))
    np.testing.assert_allclose(_pos(moved), [1.35, 1.2], atol=1e-6)  # x kept, y moved
    # The outer wall row 0 blocks -x from x = 0.65.
    moved = env.step(_at(env, (0.65, 1.5), (3.0, 1.0)), jnp.array([-1.0, 0.0]))
    np.testing.assert_allclose(_pos(moved), [0.65, 1.5], atol=1e-6)
    # Actions are clipped to [-1, 1]: a huge action moves exactly max_step.
    moved = env.step(_at(env, (1.0, 1.5), (3.0, 1.0)), jnp.array([0.0, 50.0]))
    np.testing.assert_allclose(_pos(moved), [1.0, 1.7], atol=1e-6)


def test_outside_the_grid_is_wall() -> None:
    env = PointMassMaze(MazeLayout(("R.", "GG")), start_noise=0.0)  # no border walls
    state = env.reset(jax.random.key(0))
    for _ in range(10):
        state = env.step(state, jnp.array([-1.0, -1.0]))
    pos = _pos(state)
    assert (pos - env.radius >= -0.5).all()  # the grid's outer edge is at -cell / 2
    np.testing.assert_allclose(pos, [-0.4, -0.4], atol=1e-5)


def test_point_never_enters_a_wall() -> None:
    env = envs.make("point_hardest_maze")  # the most wall faces and narrow corridors
    batched = wrappers.wrap_for_training(env, episode_length=150, num_envs=64)
    _, states = _rollout(batched, jax.random.key(7), num_steps=600, scale=2.0)
    pos = np.asarray(states.physics.pos).reshape(-1, 2)  # (T * B, 2)
    walls = env.layout.wall_mask
    for dx in (-env.radius, env.radius):
        for dy in (-env.radius, env.radius):
            corner = pos + np.array([dx, dy])
            cell = np.floor(corner / env.cell_size + 0.5).astype(int)
            assert not walls[cell[:, 0], cell[:, 1]].any()
    # The test is meaningful: the random walk did bump into walls and did travel.
    step = np.diff(np.asarray(states.physics.pos), axis=0)  # (T - 1, B, 2)
    assert (np.abs(step) < 1e-7).mean() > 0.01
    assert len({tuple(c) for c in np.floor(pos + 0.5).astype(int).tolist()}) >= 8


# ---------------------------------------------------------------- wrappers


def test_training_wrappers_new_episode_every_reset() -> None:
    length, num_envs, num_steps = 7, 4, 70
    env = envs.make("point_u_maze")
    batched = wrappers.wrap_for_training(env, episode_length=length, num_envs=num_envs)
    first, states = _rollout(batched, jax.random.key(11), num_steps=num_steps)
    t = np.arange(1, num_steps + 1)[:, None]  # steps taken so far, (T, 1)
    done, steps = np.asarray(states.done), np.asarray(states.info["steps"])
    traj_id = np.asarray(states.info["traj_id"])
    assert first.info["traj_id"].tolist() == [0] * num_envs
    assert first.info["steps"].tolist() == [0] * num_envs
    np.testing.assert_array_equal(done, np.broadcast_to(t % length == 0, done.shape))
    np.testing.assert_array_equal(steps, np.broadcast_to(t % length, steps.shape))
    np.testing.assert_array_equal(traj_id, np.broadcast_to(t // length, traj_id.shape))
    np.testing.assert_array_equal(states.info["truncation"], done)  # time limit only
    assert states.info["steps"].dtype == jnp.int32 and states.info["traj_id"].dtype == jnp.int32

    # Per slot: one goal per episode, a new one after every auto-reset, and the state
    # returned with done = 1 is already the new episode's first state (near the start).
    goals = np.concatenate([first.physics.goal[None], states.physics.goal])  # (T + 1, B, 2)
    start = env.layout.start_centre(1.0)
    for slot in range(num_envs):
        episode_goals = goals[::length, slot]  # first state of each episode
        assert len({tuple(g) for g in episode_goals}) == len(episode_goals)
        for e, g in enumerate(episode_goals):
            assert (goals[e * length : (e + 1) * length, slot] == g).all()
        new_starts = np.asarray(states.physics.pos)[done[:, slot] > 0, slot]
        assert np.abs(new_starts - start).max() <= env.start_noise + 1e-6
        assert len({tuple(p) for p in new_starts}) == len(new_starts)


def test_eval_wrappers_end_after_episode_length() -> None:
    length = 5
    batched = wrappers.wrap_for_eval(envs.make("point_arena"), length, num_envs=2)
    first, states = _rollout(batched, jax.random.key(2), num_steps=length)
    np.testing.assert_array_equal(states.done[:, 0], [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(states.info["truncation"][:, 0], [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(states.physics.goal[-1], first.physics.goal)  # no reset
    assert batched.default_episode_length == length
    assert batched.obs_dim == 4 and batched.goal_reach_thresh == 0.25


def test_goal_chaining_commands_a_new_goal_exactly_when_reached() -> None:
    env = envs.make("point_u_maze")
    chained = wrappers.GoalChainingWrapper(env, max_new_goals=2)
    state = chained.reset(jax.random.key(3))
    goal = state.physics.goal
    step = jax.jit(chained.step)

    # Not reached: everything but the position stays.
    moved = step(state, jnp.array([0.0, 1.0]))
    np.testing.assert_array_equal(moved.physics.goal, goal)
    np.testing.assert_array_equal(moved.obs[2:], goal)

    # Placed on its goal (a G cell centre +- goal noise, reachable without walls): after a
    # standing-still step the goal is new, drawn from the task's goal distribution, and
    # the obs carries it; the position is untouched.
    at_goal = state.replace(physics=state.physics.replace(pos=goal))
    after = step(at_goal, jnp.zeros(2))
    new_goal = np.asarray(after.physics.goal)
    assert np.linalg.norm(new_goal - np.asarray(goal)) > 1e-3
    np.testing.assert_array_equal(after.obs[2:], new_goal)
    np.testing.assert_array_equal(after.physics.pos, goal)
    centres = env.layout.goal_centres(env.cell_size)
    assert np.abs(new_goal - centres).max(axis=1).min() <= env.goal_noise + 1e-6
    # The key moved on: the next chained goal differs from this one.
    again = step(after.replace(physics=after.physics.replace(pos=after.physics.goal)), jnp.zeros(2))
    assert np.linalg.norm(np.asarray(again.physics.goal) - new_goal) > 1e-3
    # The budget of 2 new goals is spent: reaching the goal a third time keeps it.
    third = step(again.replace(physics=again.physics.replace(pos=again.physics.goal)), jnp.zeros(2))
    np.testing.assert_array_equal(third.physics.goal, again.physics.goal)
    assert int(third.info["new_goals_left"]) == 0


def test_goal_chaining_keeps_episodes_and_ids() -> None:
    length, num_envs, num_steps = 40, 8, 160
    env = envs.make("point_arena")
    batched = wrappers.wrap_for_training(env, length, num_envs, chained_goals=3)

    @jax.jit
    def run(key: jax.Array) -> tuple[EnvState, EnvState]:
        first = batched.reset(key)

        def body(state: EnvState, _: None) -> tuple[EnvState, EnvState]:
            # Head straight for the goal (the arena has no inner walls).
            action = (state.obs[:, 2:] - state.obs[:, :2]) / env.max_step
            state = batched.step(state, action)
            return state, state

        return first, jax.lax.scan(body, first, None, length=num_steps)[1]

    first, states = run(jax.random.key(5))
    t = np.arange(1, num_steps + 1)[:, None]
    np.testing.assert_array_equal(states.info["traj_id"], np.broadcast_to(t // length, (160, 8)))
    np.testing.assert_array_equal(states.obs[..., 2:], states.physics.goal)
    # Goals change inside episodes (only where the previous goal was reached) as well as
    # at every reset.
    goals = np.concatenate([first.physics.goal[None], states.physics.goal])  # (T + 1, B, 2)
    changed = np.abs(np.diff(goals, axis=0)).max(-1) > 0  # (T, B)
    mid_episode = changed & (np.asarray(states.done) == 0)
    # Expected: a change exactly where a step reached its goal while the episode still had
    # some of its 3 new goals left.
    reached = (np.asarray(states.metrics["distance"]) < env.goal_reach_thresh) & (
        np.asarray(states.done) == 0
    )
    expected = np.zeros_like(reached)
    for slot in range(num_envs):
        for t0 in range(0, num_steps, length):
            hits = np.flatnonzero(reached[t0 : t0 + length, slot])[:3]
            expected[t0 + hits, slot] = True
    np.testing.assert_array_equal(mid_episode, expected)
    assert expected.sum() >= num_envs * (num_steps // length) * 2  # most budgets used
    assert reached.sum() > expected.sum() + num_envs  # and the budget did stop changes


class _AlwaysTerminates(wrappers.Wrapper):
    """Test double: the task itself ends every step."""

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Step and terminate."""
        return self.env.step(state, action).replace(done=jnp.ones((), jnp.float32))


def test_termination_is_not_truncation() -> None:
    env = wrappers.EpisodeWrapper(_AlwaysTerminates(envs.make("point_arena")), episode_length=1)
    state = env.step(env.reset(jax.random.key(0)), jnp.zeros(2))
    assert float(state.done) == 1.0 and float(state.info["truncation"]) == 0.0


def test_wrappers_forward_task_attributes() -> None:
    env = wrappers.wrap_for_training(envs.make("point_u_maze"), 10, 2)
    assert isinstance(env.unwrapped, PointMassMaze)
    assert env.wall_rectangles().shape == (18, 4)


# ---------------------------------------------------------------- registry


def test_registry_names_and_overrides() -> None:
    expected = {
        "point_arena",
        "point_u_maze",
        "point_u_maze_eval",
        "point_big_maze",
        "point_big_maze_eval",
        "point_hardest_maze",
    }
    assert expected <= set(CPU_ENVS)
    assert all(spec.description for spec in envs.list_envs())
    env = envs.make("point_u_maze", max_step=0.1)
    assert isinstance(env, PointMassMaze) and env.max_step == 0.1
    assert envs.make("point_u_maze").default_episode_length == 100
    with pytest.raises(ValueError, match="already registered"):
        envs.register("point_u_maze", lambda: env, description="dup")
    with pytest.raises(ValueError, match="tunnelling"):
        envs.make("point_u_maze", max_step=1.5)


def test_unknown_env_names_close_matches() -> None:
    with pytest.raises(UnknownEnvError) as err:
        envs.make("point_u_maz")
    message = str(err.value)
    assert isinstance(err.value, ValueError)
    assert "point_u_maze" in message and "\n" not in message
    with pytest.raises(UnknownEnvError) as err:
        envs.make("zzz")  # nothing similar: still names the nearest tasks
    named = str(err.value).split("closest: ")[1].split(", ")
    assert named and set(named) <= {spec.name for spec in envs.list_envs()}


# ---------------------------------------------------------------- layouts


def test_layout_parsing_counts() -> None:
    u = MazeLayout.from_name("U_MAZE")
    assert u.shape == (5, 5)
    assert u.start_cell == (1, 1)
    # "#RGG#", "###G#", "#GGG#": 2 + 1 + 3 goals; 7 free cells; 25 - 7 walls.
    assert u.goal_cells == ((1, 2), (1, 3), (2, 3), (3, 1), (3, 2), (3, 3))
    assert len(u.free_cells) == 7 and len(u.wall_cells) == 18
    assert MazeLayout.from_name("U_MAZE_EVAL").goal_cells == ((3, 1), (3, 2), (3, 3))
    assert len(MazeLayout.from_name("BIG_MAZE").goal_cells) == 3 + 5 + 3 + 5 + 4 + 5
    assert len(MazeLayout.from_name("HARDEST_MAZE").goal_cells) == 8 + 5 + 9 + 3 + 8 + 4 + 8
    np.testing.assert_array_equal(MazeLayout.cell_centres([(2, 3)], 1.5), [[3.0, 4.5]])
    np.testing.assert_array_equal(u.wall_rectangles(2.0)[1], [-1.0, 1.0, 1.0, 3.0])  # (0, 1)
    with pytest.raises(ValueError, match="exactly one 'R'"):
        MazeLayout(("#G#",))
    with pytest.raises(KeyError, match="U_MAZE"):
        MazeLayout.from_name("U_MAZ")


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_goal_reachable_from_start(name: str) -> None:
    layout = MazeLayout.from_name(name)
    dist = layout.bfs_distances(layout.start_cell)
    assert layout.goal_cells and all(dist[g] > 0 for g in layout.goal_cells)
    # Eval/stitching variants share walls and start with their training maze.
    base = re.sub(r"(_SINGLE)?_EVAL.*$", "", name)
    if base != name:
        train = MazeLayout.from_name(base)
        assert train.wall_cells == layout.wall_cells and train.start_cell == layout.start_cell


@pytest.mark.parametrize("name", [n for n in LAYOUTS if "_EVAL_" in n and n.endswith("f")])
def test_stitching_layouts_put_goals_k_cells_forward(name: str) -> None:
    layout = MazeLayout.from_name(name)
    gaps = {int(k) for k in re.findall(r"(\d+)f", name.split("_EVAL_")[1])}
    dist = layout.bfs_distances(layout.start_cell)
    assert {int(dist[g]) for g in layout.goal_cells} == gaps


def test_path_distance_and_shortest_path() -> None:
    u = MazeLayout.from_name("U_MAZE")
    assert u.path_distance(u.start_cell, (3, 1)) == 6
    path = u.shortest_path(u.start_cell, (3, 1))
    assert path == ((1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1))
    with pytest.raises(ValueError, match="not a free cell"):
        u.path_distance(u.start_cell, (2, 1))
    assert u.with_goals([(3, 1)]).goal_cells == ((3, 1),)


# ---------------------------------------------------------------- stitching pairs


def test_stitch_pairs_of_the_u_maze_by_hand() -> None:
    u = MazeLayout.from_name("U_MAZE")
    path = [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3), (3, 2), (3, 1)]
    assert list(maze_task.stitch_path(u)) == path
    assert maze_task.parse_gaps("1f2f3f") == (1, 2, 3)
    table = maze_task.stitch_pairs(u, (1, 3))
    expected = [
        ((1, 1), (1, 2)), ((1, 2), (1, 3)), ((1, 3), (2, 3)),
        ((2, 3), (3, 3)), ((3, 3), (3, 2)), ((3, 2), (3, 1)),
        ((1, 1), (2, 3)), ((1, 2), (3, 3)), ((1, 3), (3, 2)), ((2, 3), (3, 1)),
    ]  # fmt: skip
    assert [(tuple(s), tuple(g)) for s, g in table.cells.tolist()] == expected
    # Each gap has probability 1/2, spread evenly over its 6 or 4 pairs.
    assert table.probs is not None
    np.testing.assert_allclose(table.probs, [1 / 12] * 6 + [1 / 8] * 4)
    np.testing.assert_allclose(table.centres(4.0)[6], [[4.0, 4.0], [8.0, 12.0]])
    assert table.max_path_cells(u) == 3
    with pytest.raises(ValueError, match="gaps"):
        maze_task.stitch_pairs(u, (7,))  # the path has only 7 cells
    with pytest.raises(ValueError, match="1f2f3f"):
        maze_task.parse_gaps("123")


@pytest.mark.parametrize("name", ["U_MAZE", "U2_MAZE", "U3_MAZE", "U4_MAZE", "U5_MAZE"])
def test_u_maze_paths_cover_every_free_cell(name: str) -> None:
    layout = MazeLayout.from_name(name)
    path = maze_task.stitch_path(layout)
    assert path[0] == layout.start_cell and sorted(path) == sorted(layout.free_cells)


def test_pair_sampling_frequencies_and_point_mass_stitching() -> None:
    u = MazeLayout.from_name("U_MAZE")
    table = maze_task.stitch_pairs(u, (1, 2, 3))
    keys = jax.random.split(jax.random.key(0), 3000)
    starts, goals = jax.jit(jax.vmap(lambda k: table.sample(k, 1.0)))(keys)
    index = {cell: k for k, cell in enumerate(maze_task.stitch_path(u))}  # position on path
    s_idx = [index[tuple(c)] for c in starts.astype(int).tolist()]
    g_idx = [index[tuple(c)] for c in goals.astype(int).tolist()]
    gaps = np.array(g_idx) - np.array(s_idx)
    counts = np.bincount(gaps, minlength=4)[1:] / len(gaps)
    np.testing.assert_allclose(counts, 1 / 3, atol=0.04)  # each gap equally likely
    env = envs.make("point_u_maze_stitch_1f2f3f")
    assert isinstance(env, PointMassMaze) and env.default_episode_length == 50
    states = jax.jit(jax.vmap(env.reset))(keys[:256])
    start = np.round(np.asarray(states.physics.pos)).astype(int)  # cell 1.0, noise < 0.5
    goal = np.round(np.asarray(states.physics.goal)).astype(int)
    pairs = {(tuple(s), tuple(g)) for s, g in zip(start.tolist(), goal.tolist(), strict=True)}
    assert pairs <= {(tuple(s), tuple(g)) for s, g in table.cells.tolist()}
    assert len(pairs) >= 12  # starts all along the path, not just at 'R'
    assert envs.make("point_u_maze_eval_5f6f").layout.goal_cells == ((3, 1), (3, 2))


def test_maze_eval_variants_and_default_tables() -> None:
    assert maze_task.eval_variants("U_MAZE") == {
        "eval": "U_MAZE_EVAL",
        "single_eval": "U_MAZE_SINGLE_EVAL",
        "eval_1f2f3f4f5f": "U_MAZE_EVAL_1f2f3f4f5f",
        "eval_1f2f3f4f": "U_MAZE_EVAL_1f2f3f4f",
        "eval_1f2f3f": "U_MAZE_EVAL_1f2f3f",
        "eval_5f6f": "U_MAZE_EVAL_5f6f",
    }
    assert maze_task.eval_variants("BIG_MAZE") == {"eval": "BIG_MAZE_EVAL"}  # not _HUMANOID
    assert maze_task.eval_variants("HARDEST_MAZE") == {}
    table = maze_task.layout_pairs(MazeLayout.from_name("U_MAZE_EVAL"))
    assert table.probs is None and table.cells[:, 0].tolist() == [[1, 1]] * 3
    assert table.cells[:, 1].tolist() == [[3, 1], [3, 2], [3, 3]]
