"""Trajectory replay buffer and hindsight future-goal relabelling, as pure functions.

Layout: every array is (num_envs, capacity, ...), env axis first so it can be sharded
across devices. Time is a ring: ``insert`` scatters an unroll at the write position
(modulo capacity) and never copies the buffer. ``sample_windows`` gathers windows of
consecutive steps; ``relabel`` draws, for every step t of a window, a future offset k >= 1
with P(k) ~ gamma^k inside the same episode, in O(window) work per window.
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


def sample_windows(
    buffer: BufferState, key: jax.Array, num_windows: int, window: int
) -> Transitions:
    """Gather ``num_windows`` windows of ``window`` consecutive valid steps from random envs.

    Returns leaves (num_windows, window, ...). Requires buffer.size >= window.
    """
    key_env, key_start = jax.random.split(key)
    num_envs, capacity = buffer.data["traj_id"].shape[:2]
    env = jax.random.randint(key_env, (num_windows,), 0, num_envs)
    # Logical start in [0, size - window]; logical 0 is the oldest valid step.
    start = jax.random.randint(key_start, (num_windows,), 0, buffer.size - window + 1)
    oldest = (buffer.insert_pos - buffer.size) % capacity
    time = (oldest + start[:, None] + jnp.arange(window)[None, :]) % capacity  # (W_n, window)
    return jax.tree.map(lambda d: d[env[:, None], time], buffer.data)


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


def relabel(
    window: Transitions, key: jax.Array, discount: float, goal_indices: tuple[int, ...]
) -> Transitions:
    """Hindsight goals for one window (leaves (window, ...)).

    Returns "state", "action", "goal" (the goal slice of the state k steps later in the same
    episode), "offset" (k) and "valid" (False where no later step exists in the episode).
    """
    available = steps_to_episode_end(window["traj_id"])  # (window,)
    offset = sample_future_offset(key, available, discount)
    future = jnp.arange(available.shape[0]) + offset
    goal = window["state"][future][:, jnp.asarray(goal_indices)]
    return {
        "state": window["state"],
        "action": window["action"],
        "goal": goal,
        "offset": offset,
        "valid": available > 0,
    }


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
    """``num_samples`` relabelled transitions drawn without replacement from random windows.

    Valid transitions (those with a future in their episode) come first in random order, so
    the result holds only valid ones whenever the windows hold num_samples of them (the
    config sizes the pool at twice the need).
    """
    key_win, key_rel, key_perm = jax.random.split(key, 3)
    windows = sample_windows(buffer, key_win, num_windows, window)
    rel_keys = jax.random.split(key_rel, num_windows)
    pool = jax.vmap(lambda w, k: relabel(w, k, discount, goal_indices))(windows, rel_keys)
    pool = jax.tree.map(lambda x: x.reshape((num_windows * window, *x.shape[2:])), pool)
    # Random priority in [0, 1) plus 1 for valid rows: sorting descending puts valid first.
    priority = jax.random.uniform(key_perm, pool["valid"].shape) + pool["valid"]
    chosen = jnp.argsort(-priority)[:num_samples]
    return jax.tree.map(lambda x: x[chosen], pool)
