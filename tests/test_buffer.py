"""Ring buffer and hindsight relabelling: stored values encode (env, absolute time, episode)
so every sampled row can be traced back to where it came from."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from deepcrl import buffer as rb

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------


def episode_ids(lengths, total, first_id=0):
    """(total,) contiguous trajectory ids, episode e lasting lengths[e % len(lengths)]."""
    ids, e = [], 0
    while len(ids) < total:
        ids += [first_id + e] * lengths[e % len(lengths)]
        e += 1
    return np.array(ids[:total], np.int32)


def encoded_stream(num_envs, total, lengths_per_env):
    """Per env and absolute time t: state (env, t + 1, traj, 7), action (t + 1, env).

    t + 1 (not t) so that a never-written, all-zero slot can't pass for real data.
    """
    traj = np.stack(
        [episode_ids(lengths_per_env[e], total, first_id=1000 * (e + 1)) for e in range(num_envs)]
    )
    t = np.broadcast_to(np.arange(total), (num_envs, total))
    env = np.broadcast_to(np.arange(num_envs)[:, None], (num_envs, total))
    state = np.stack([env, t + 1, traj, np.full_like(t, 7)], axis=-1).astype(np.float32)
    action = np.stack([t + 1, env], axis=-1).astype(np.float32)
    return {"state": state, "action": action, "traj_id": traj}


def fill(stream, capacity, unroll):
    """Insert the stream unroll by unroll (wrapping the ring); returns the buffer."""
    num_envs, total = stream["traj_id"].shape
    buf = rb.init_buffer(num_envs, capacity, state_dim=4, action_dim=2)
    insert = jax.jit(rb.insert)
    for s in range(0, total, unroll):
        buf = insert(buf, {k: jnp.asarray(v[:, s : s + unroll]) for k, v in stream.items()})
    return buf


def np_steps_to_end(traj):
    """Later steps in the same (contiguous) episode, by a plain loop."""
    out = []
    for t in range(len(traj)):
        n = 0
        while t + n + 1 < len(traj) and traj[t + n + 1] == traj[t]:
            n += 1
        out.append(n)
    return np.array(out)


def truncated_geometric(n, g):
    """P(k) = g^k / sum_{j=1..n} g^j for k = 1..n."""
    w = np.array([g**k for k in range(1, n + 1)], np.float64)
    return w / w.sum()


def assert_matches_distribution(samples, probs, *, min_p=1e-4, max_abs=0.01):
    """Chi-square goodness of fit (k = 1..n) plus a max absolute difference check."""
    n = len(probs)
    samples = np.asarray(samples)
    assert samples.min() >= 1 and samples.max() <= n
    counts = np.bincount(samples, minlength=n + 1)[1:]
    expected = probs * len(samples)
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    p_value = stats.chi2.sf(chi2, df=n - 1)
    assert p_value > min_p, (chi2, p_value, counts, expected)
    assert np.abs(counts / len(samples) - probs).max() < max_abs


# ---------------------------------------------------------------------------------------
# Insert
# ---------------------------------------------------------------------------------------


def test_insert_wraps_around_the_ring():
    capacity, num_envs = 5, 2
    buf = rb.init_buffer(num_envs, capacity, state_dim=1, action_dim=1)
    assert buf.capacity == capacity and int(buf.size) == 0 and int(buf.insert_pos) == 0
    # Absolute time t of env e is stored as 100 * e + t.
    slots = np.full((num_envs, capacity), -1.0)  # the hand-simulated ring
    pos, size = 0, 0
    for start in (0, 3, 6):  # three unrolls of 3 steps: 9 steps into 5 slots
        t = np.arange(start, start + 3)
        values = np.stack([100.0 * e + t for e in range(num_envs)])  # (E, 3)
        buf = rb.insert(
            buf,
            {
                "state": jnp.asarray(values[..., None]),
                "action": jnp.asarray(-values[..., None]),
                "traj_id": jnp.asarray(values.astype(np.int32)),
            },
        )
        for i in range(3):
            slots[:, (pos + i) % capacity] = values[:, i]
        pos, size = (pos + 3) % capacity, min(size + 3, capacity)
        assert int(buf.insert_pos) == pos and int(buf.size) == size
        written = slots >= 0
        np.testing.assert_array_equal(
            np.asarray(buf.data["state"][..., 0])[written], slots[written]
        )
        np.testing.assert_array_equal(
            np.asarray(buf.data["action"][..., 0])[written], -slots[written]
        )
        np.testing.assert_array_equal(np.asarray(buf.data["traj_id"])[written], slots[written])
    # After 9 steps, slot s holds the newest t < 9 with t % 5 == s: t = 5, 6, 7, 8, 4.
    np.testing.assert_array_equal(buf.data["state"][0, :, 0], [5, 6, 7, 8, 4])
    np.testing.assert_array_equal(buf.data["state"][1, :, 0], [105, 106, 107, 108, 104])
    assert int(buf.insert_pos) == 4 and int(buf.size) == 5


def test_insert_full_capacity_unroll_and_too_long_unroll():
    buf = rb.init_buffer(1, 4, state_dim=1, action_dim=1)
    buf = rb.insert(buf, {"state": jnp.ones((1, 2, 1)), "action": jnp.ones((1, 2, 1)),
                          "traj_id": jnp.ones((1, 2), jnp.int32)})  # fmt: skip
    unroll = {
        "state": jnp.arange(4.0).reshape(1, 4, 1) + 10,
        "action": jnp.zeros((1, 4, 1)),
        "traj_id": jnp.arange(4, dtype=jnp.int32)[None],
    }
    buf = jax.jit(rb.insert)(buf, unroll)
    # Written from slot 2 on: slots 2, 3, 0, 1 hold 10, 11, 12, 13.
    np.testing.assert_array_equal(buf.data["state"][0, :, 0], [12, 13, 10, 11])
    assert int(buf.insert_pos) == 2 and int(buf.size) == 4
    too_long = jax.tree.map(lambda x: jnp.concatenate([x, x[:, :1]], axis=1), unroll)
    with pytest.raises(ValueError, match="does not fit"):
        rb.insert(buf, too_long)


# ---------------------------------------------------------------------------------------
# Episode ends and the future-offset distribution
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "traj",
    [
        [3, 3, 3, 4, 4, 4, 4, 5, 5, 6, 7, 7, 7, 7, 7, 7],
        [1],
        [2, 2, 2, 2],
        [0, 1, 2, 3, 4],
        [9, 9, 1, 1, 1, 9, 9],  # an id reused later is another episode
    ],
)
def test_steps_to_episode_end_matches_loop(traj):
    got = np.asarray(rb.steps_to_episode_end(jnp.asarray(traj, jnp.int32)))
    np.testing.assert_array_equal(got, np_steps_to_end(traj))


def test_steps_to_episode_end_hand_values_and_random():
    # [3,3,3,4,4,4,4,5,5,6,7,7,7]: 2,1,0 | 3,2,1,0 | 1,0 | 0 | 2,1,0
    traj = jnp.asarray([3, 3, 3, 4, 4, 4, 4, 5, 5, 6, 7, 7, 7], jnp.int32)
    np.testing.assert_array_equal(
        rb.steps_to_episode_end(traj), [2, 1, 0, 3, 2, 1, 0, 1, 0, 0, 2, 1, 0]
    )
    rng = np.random.default_rng(0)
    fn = jax.jit(rb.steps_to_episode_end)
    for _ in range(5):
        ids = episode_ids(list(rng.integers(1, 7, size=20)), 60)
        np.testing.assert_array_equal(fn(jnp.asarray(ids)), np_steps_to_end(ids))


@pytest.mark.parametrize("n", [5, 50])
@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_sample_future_offset_is_truncated_geometric(n, gamma):
    draws = 200_000
    k = np.asarray(
        rb.sample_future_offset(jax.random.PRNGKey(n), jnp.full((draws,), n, jnp.int32), gamma)
    )
    assert k.min() >= 1 and k.max() <= n
    assert_matches_distribution(k, truncated_geometric(n, gamma), max_abs=0.005)


def test_sample_future_offset_range_and_zero_available():
    available = jnp.asarray(np.tile(np.arange(0, 12), 5000), jnp.int32)
    k = np.asarray(rb.sample_future_offset(jax.random.PRNGKey(1), available, 0.99))
    a = np.asarray(available)
    np.testing.assert_array_equal(k[a == 0], 0)
    np.testing.assert_array_equal(k[a == 1], 1)
    assert np.all((k[a > 0] >= 1) & (k[a > 0] <= a[a > 0]))
    # The largest offset is reachable for every n (no off-by-one at the top).
    for n in range(1, 12):
        assert k[a == n].max() == n


# ---------------------------------------------------------------------------------------
# sample_relabelled: where every row and goal comes from
# ---------------------------------------------------------------------------------------

# Every sample_relabelled test below uses one buffer shape (3 envs x 40 steps, state
# (env, t + 1, traj, 7), action (t + 1, env)) and one jitted sampler, so it compiles once.
NUM_ENVS, CAPACITY, WINDOW, DISCOUNT = 3, 40, 6, 0.7  # WINDOW: the longest episode
NUM_KEYS, NUM_SAMPLES = 1000, 32
GOAL_INDICES = (1, 2, 0)  # goal = (t' + 1, traj', env'): it says where it came from


@functools.cache
def _sampler():
    sample = functools.partial(
        rb.sample_relabelled,
        num_windows=16,
        window=WINDOW,
        num_samples=NUM_SAMPLES,
        discount=DISCOUNT,
        goal_indices=GOAL_INDICES,
    )
    return jax.jit(jax.vmap(sample, in_axes=(None, 0)))


def draw(stream, total, unroll, seed=0):
    """Fill a buffer with the first ``total`` steps, then NUM_KEYS independent draws.

    Returns flat numpy rows plus each row's env and absolute time.
    """
    stream = {k: v[:, :total] for k, v in stream.items()}
    buf = fill(stream, CAPACITY, unroll)
    keys = jax.random.split(jax.random.PRNGKey(seed), NUM_KEYS)
    out = {k: np.asarray(v).reshape(-1, *v.shape[2:]) for k, v in _sampler()(buf, keys).items()}
    env = out["state"][:, 0].astype(int)
    t = out["state"][:, 1].astype(int) - 1
    return out, env, t


def check_rows_and_goals(stream, out, env, t, oldest, newest):
    """Every valid row is a stored step; its goal is a later step of the same episode."""
    valid = out["valid"]
    state, goal, offset = out["state"][valid], out["goal"][valid], out["offset"][valid]
    env, t = env[valid], t[valid]
    assert t.min() >= oldest and t.max() <= newest
    np.testing.assert_array_equal(state, stream["state"][env, t])
    np.testing.assert_array_equal(out["action"][valid], stream["action"][env, t])
    g_t = goal[:, 0].astype(int) - 1
    assert np.all(goal[:, 2] == env)
    assert np.all(g_t > t) and np.all(g_t <= newest)
    np.testing.assert_array_equal(offset, g_t - t)
    np.testing.assert_array_equal(stream["traj_id"][env, g_t], stream["traj_id"][env, t])
    np.testing.assert_array_equal(goal, stream["state"][env, g_t][:, list(GOAL_INDICES)])


def non_end_steps(stream, oldest, newest):
    """(env, t) of stored steps with a later stored step in their episode."""
    steps = set()
    for e in range(NUM_ENVS):
        n = np_steps_to_end(stream["traj_id"][e, oldest : newest + 1])
        steps |= {(e, oldest + i) for i in range(len(n)) if n[i] > 0}
    return steps


LENGTHS = [[6, 3, 1, 5, 2, 4], [2, 6, 6, 1, 3], [4, 4, 1, 1, 5]]
TOTAL = 70  # 7 unrolls of 10 into 40 slots: the ring wraps, stored t = 30 .. 69


@functools.cache
def _wrapped():
    stream = encoded_stream(NUM_ENVS, TOTAL, LENGTHS)
    return stream, *draw(stream, TOTAL, unroll=10)


def test_sample_relabelled_rows_and_goals_trace_back_to_the_buffer():
    stream, out, env, t = _wrapped()
    # The pool is ~3x what is asked for, so only valid transitions come back.
    assert out["valid"].all()
    check_rows_and_goals(stream, out, env, t, oldest=TOTAL - CAPACITY, newest=TOTAL - 1)


def test_sample_relabelled_never_picks_episode_ends_and_reaches_every_other_step():
    stream, _, env, t = _wrapped()
    expected = non_end_steps(stream, TOTAL - CAPACITY, TOTAL - 1)
    assert set(zip(env.tolist(), t.tolist(), strict=True)) == expected
    # Roughly uniform over those steps, the oldest and newest included (a window start
    # range that favoured the middle of the buffer would starve the edges).
    counts = np.array([np.sum((env == e) & (t == s)) for e, s in sorted(expected)])
    assert counts.max() / counts.min() < 1.5, (counts.min(), counts.max())


def test_sample_relabelled_offsets_follow_truncated_geometric():
    stream, out, env, t = _wrapped()
    # n = later stored steps in the row's episode: the support of k for that row.
    n = np.stack([np_steps_to_end(stream["traj_id"][e]) for e in range(NUM_ENVS)])[env, t]
    assert np.all(out["offset"] <= n)
    for n_value in (5, 3, 2):
        k = out["offset"][n == n_value]
        assert len(k) > 1000
        assert_matches_distribution(k, truncated_geometric(n_value, DISCOUNT), max_abs=0.03)


def test_relabel_partially_filled_buffer_with_several_episodes():
    # 16 of 40 slots written; env 0 holds exactly these episodes (ids 3, 4, 5, 6, 7).
    total = 16
    stream = encoded_stream(NUM_ENVS, total, [[1], [2, 5, 1, 3], [6, 6, 4]])
    traj0 = np.array([3, 3, 3, 4, 4, 4, 4, 5, 5, 6, 7, 7, 7, 7, 7, 7], np.int32)
    stream["traj_id"][0] = traj0
    stream["state"][0, :, 2] = traj0
    out, env, t = draw(stream, total, unroll=8, seed=1)
    assert int(fill(stream, CAPACITY, 8).size) == total
    assert out["valid"].mean() > 0.99
    # Never an unwritten (all-zero) slot, goals from later steps of the same episode.
    check_rows_and_goals(stream, out, env, t, oldest=0, newest=total - 1)
    valid = out["valid"]
    env, t, src = env[valid], t[valid], out["goal"][valid, 0].astype(int) - 1
    assert set(zip(env.tolist(), t.tolist(), strict=True)) == non_end_steps(stream, 0, total - 1)
    # Env 0: its episode ends (steps 2, 6, 8, 9, 15) never come back, every other step does,
    # and goals reach every later step of the episode up to its last.
    assert set(t[env == 0].tolist()) == set(range(16)) - {2, 6, 8, 9, 15}
    assert set(src[(env == 0) & (t == 3)].tolist()) == {4, 5, 6}
    assert set(src[(env == 0) & (t == 10)].tolist()) == {11, 12, 13, 14, 15}


def test_sample_relabelled_flags_rows_without_a_future():
    # Every step its own episode: no candidate has a later step, so every row is invalid.
    stream = encoded_stream(NUM_ENVS, 20, [[1], [1], [1]])
    out, _, _ = draw(stream, 20, unroll=10, seed=2)
    assert not out["valid"].any()
    np.testing.assert_array_equal(out["offset"], 0)


# ---------------------------------------------------------------------------------------
# Relabelling cost is O(T): no T x T intermediate
# ---------------------------------------------------------------------------------------


def _all_shapes(jaxpr):
    """Shapes of every intermediate in a jaxpr, sub-jaxprs (scan, cond, pjit...) included."""
    shapes = []
    for eqn in jaxpr.eqns:
        shapes += [tuple(getattr(v.aval, "shape", ())) for v in eqn.outvars]
        for param in eqn.params.values():
            for sub in param if isinstance(param, (tuple, list)) else (param,):
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    shapes += _all_shapes(sub.jaxpr)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    shapes += _all_shapes(sub)
    return shapes


def _quadratic_shapes(fn, *args, t):
    jaxpr = jax.make_jaxpr(fn)(*args)
    return [s for s in _all_shapes(jaxpr.jaxpr) if sum(d >= t for d in s) >= 2]


T = 10_000


def test_detector_catches_a_quadratic_relabeller():
    # A naive steps-to-end: count later same-id steps with a (T, T) mask.
    def naive(traj):
        later = jnp.arange(T)[None, :] > jnp.arange(T)[:, None]
        return jnp.sum(later & (traj[None, :] == traj[:, None]), axis=1)

    traj = jax.ShapeDtypeStruct((T,), jnp.int32)
    assert (T, T) in _quadratic_shapes(naive, traj, t=T)


def test_relabelling_builds_no_t_by_t_array():
    traj = jax.ShapeDtypeStruct((T,), jnp.int32)
    assert _quadratic_shapes(rb.steps_to_episode_end, traj, t=T) == []
    buf = jax.eval_shape(lambda: rb.init_buffer(2, 2 * T, state_dim=3, action_dim=2))

    def sample(b, key):
        return rb.sample_relabelled(
            b,
            key,
            num_windows=2,
            window=T,
            num_samples=64,
            discount=0.99,
            goal_indices=(0, 1),
        )

    key = jax.ShapeDtypeStruct((2,), jnp.uint32)
    assert _quadratic_shapes(sample, buf, key, t=T) == []
    # And the lowered program mentions no T x T tensor either.
    text = jax.jit(sample).lower(buf, key).as_text()
    assert f"{T}x{T}" not in text
