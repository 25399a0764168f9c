"""Trajectory replay buffer and hindsight future-goal relabelling, as pure functions.

Layout: every array is (num_envs, capacity, ...), env axis first so it can be sharded
across devices. Time is a ring: ``insert`` scatters an unroll at the write position
(modulo capacity) and never copies the buffer. ``sample_relabelled`` reads windows of
consecutive trajectory ids and draws, for each candidate step t, a future offset k >= 1
with P(k) ~ gamma^k inside the same episode, in O(window) work per window (no T x T
matrix).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

Transitions = dict[str, jax.Array]
"""Per-step data: "state" (..., state_dim), "action" (..., action_dim), "traj_id" (...)."""


@struct.dataclass
class BufferState:
    """Ring buffer over (env, time)."""

    data: Transitions
    """Each leaf (num_envs, capacity, ...)."""
    insert_pos: jax.Array
    """() int32, next time index to write."""
    size: jax.Array
    """() int32, number of valid time steps (<= capacity)."""

    @property
    def capacity(self) -> int:
        """Time steps held per environment."""
        return int(self.data["traj_id"].shape[1])


def init_buffer(num_envs: int, capacity: int, state_dim: int, action_dim: int) -> BufferState:
    """An empty buffer."""
    data = {
        "state": jnp.zeros((num_envs, capacity, state_dim), jnp.float32),
        "action": jnp.zeros((num_envs, capacity, action_dim), jnp.float32),
        "traj_id": jnp.zeros((num_envs, capacity), jnp.int32),
    }
    return BufferState(data=data, insert_pos=jnp.int32(0), size=jnp.int32(0))


def insert(buffer: BufferState, unroll: Transitions) -> BufferState:
    """Write an unroll with leaves (num_envs, T, ...) at the ring's write position."""
    capacity = buffer.capacity
    length = unroll["traj_id"].shape[1]
    if length > capacity:
        raise ValueError(f"unroll of {length} steps does not fit a buffer of {capacity}")
    idx = (buffer.insert_pos + jnp.arange(length)) % capacity  # (T,) time slots
    data = jax.tree.map(lambda d, u: d.at[:, idx].set(u.astype(d.dtype)), buffer.data, unroll)
    return BufferState(
        data=data,
        insert_pos=(buffer.insert_pos + length) % capacity,
        size=jnp.minimum(buffer.size + length, capacity),
    )


def steps_to_episode_end(traj_id: jax.Array) -> jax.Array:
    """For (window,) trajectory ids, the number of later steps in the same episode, (window,).

    Episodes are contiguous in time, so the last step of t's episode is the first index
    >= t whose successor has another id (or the window's end): a reverse running minimum.
    """
    window = traj_id.shape[0]
    index = jnp.arange(window)
    is_last = jnp.append(traj_id[1:] != traj_id[:-1], True)  # (window,)
    last = jax.lax.cummin(jnp.where(is_last, index, window), reverse=True)
    return last - index


def sample_future_offset(key: jax.Array, available: jax.Array, discount: float) -> jax.Array:
    """Draw k in [1, available] with P(k) ~ discount^k (inverse CDF); 0 where available == 0.

    CDF(k) = (1 - g^k) / (1 - g^n), so k = floor(log(1 - u (1 - g^n)) / log g) + 1.
    """
    u = jax.random.uniform(key, available.shape)
    n = available.astype(jnp.float32)
    log_g = jnp.log(discount)
    k = jnp.floor(jnp.log1p(-u * -jnp.expm1(n * log_g)) / log_g) + 1.0
    k = jnp.clip(k, 1.0, jnp.maximum(n, 1.0)).astype(jnp.int32)
    return jnp.where(available > 0, k, 0)


def sample_relabelled(
    buffer: BufferState,
    key: jax.Array,
    *,
    num_windows: int,
    window: int,
    num_samples: int,
    discount: float,
    goal_indices: tuple[int, ...],
) -> Transitions:
    """``num_samples`` transitions with hindsight goals, drawn uniformly from the buffer.

    Each of ``num_windows`` windows covers 2 * ``window`` consecutive logical time steps of
    one env, starting anywhere in [-(window - 1), size - 1] so that every stored step is
    equally likely to fall in a window's first half. Steps in the first half are the
    candidates: with episodes at most ``window`` long, their whole future in the episode
    lies inside the window, so P(k) ~ gamma^k is never cut short by the window (only by the
    episode's end or by the newest data). Steps outside the stored data get sentinel ids
    that no episode shares. Only trajectory ids are read for the whole window; states and
    actions are gathered for the chosen transitions alone.

    Returns "state", "action", "goal", "offset" (k) and "valid" (False for a candidate
    without a later step in its episode; such rows appear only when the windows hold fewer
    than num_samples valid candidates, and then carry k = 0, the step's own goal).
    """
    key_env, key_start, key_offset, key_pick = jax.random.split(key, 4)
    num_envs, capacity = buffer.data["traj_id"].shape[:2]
    env = jax.random.randint(key_env, (num_windows,), 0, num_envs)
    start = jax.random.randint(key_start, (num_windows,), -(window - 1), buffer.size)
    logical = start[:, None] + jnp.arange(2 * window)[None, :]  # (n_win, 2W)
    stored = (logical >= 0) & (logical < buffer.size)
    oldest = (buffer.insert_pos - buffer.size) % capacity
    time = (oldest + logical) % capacity  # physical slot of each logical step
    traj_id = jnp.where(
        stored, buffer.data["traj_id"][env[:, None], time], -1 - jnp.arange(2 * window)
    )
    available = jax.vmap(steps_to_episode_end)(traj_id)[:, :window]  # (n_win, W)
    offset = sample_future_offset(key_offset, available, discount)
    valid = stored[:, :window] & (available > 0)
    # Random priority in [0, 1) plus 1 for valid candidates: sorting puts valid ones first.
    priority = jax.random.uniform(key_pick, valid.shape) + valid
    chosen = jnp.argsort(-priority.reshape(-1))[:num_samples]  # flat (window, step) index
    w, t = chosen // window, chosen % window
    e, now, k = env[w], time[w, t], offset[w, t]
    future = (now + k) % capacity
    goal = buffer.data["state"][e, future][:, jnp.asarray(goal_indices)]
    return {
        "state": buffer.data["state"][e, now],
        "action": buffer.data["action"][e, now],
        "goal": goal,
        "offset": k,
        "valid": valid[w, t],
    }
