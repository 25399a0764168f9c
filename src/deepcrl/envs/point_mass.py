"""Pure-JAX kinematic point mass in a grid maze: the fast CPU task for demos and tests.

The agent is a square of half-size ``radius`` at position (x, y). An action a in [-1, 1]^2
moves it by ``max_step * a``, one axis at a time: the x move is kept only if the square then
overlaps no wall cell, then likewise the y move. Walls are the '#' cells of a MazeLayout
(squares of side ``cell_size``) and everything outside the grid. Since ``max_step`` is below
``cell_size`` the point cannot tunnel through a wall.

Unlike JaxGCRL's ``simple_*_maze`` (a Brax point body, cell 4.0) this task has no physics
engine and uses cell 1.0; the start/goal rules follow the ant mazes: start at the 'R' cell
centre, goal at a uniformly chosen 'G' cell centre, each plus small uniform noise.

Stitching (``gaps``, e.g. ``point_u_maze_stitch_1f2f3f``): start and goal cells are a
pair (path[i], path[i + k]) along the maze's path from 'R', drawn from the table shared
with the Brax mazes (maze_task.stitch_pairs), each plus the same noise as above.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.maze_layouts import MazeLayout
from deepcrl.envs.maze_task import StartGoalPairs, parse_gaps, stitch_pairs
from deepcrl.envs.registry import register


@struct.dataclass
class PointMassPhysics:
    """Simulator state of one point mass."""

    pos: jax.Array
    """(2,) float32 position (x, y)."""
    goal: jax.Array
    """(2,) float32 commanded goal (x, y)."""


class PointMassMaze(GoalEnv):
    """Kinematic point mass in a grid maze; obs = (x, y, goal_x, goal_y)."""

    def __init__(
        self,
        layout: MazeLayout,
        *,
        cell_size: float = 1.0,
        max_step: float = 0.2,
        radius: float = 0.1,
        start_noise: float = 0.1,
        goal_noise: float = 0.2,
        goal_reach_thresh: float = 0.25,
        random_start: bool = False,
        gaps: tuple[int, ...] | None = None,
        default_episode_length: int | None = None,
    ) -> None:
        """Build the task; ``default_episode_length=None`` derives it from the layout."""
        clearance = cell_size / 2 - radius  # how far a point may leave its cell centre
        checks = {
            "cell_size > 0": cell_size > 0,
            "0 < max_step < cell_size (no tunnelling)": 0 < max_step < cell_size,
            "0 <= radius < cell_size / 2": 0 <= radius < cell_size / 2,
            "0 <= start_noise < cell_size / 2 - radius": 0 <= start_noise < clearance,
            "0 <= goal_noise < cell_size / 2 - radius": 0 <= goal_noise < clearance,
            "goal_reach_thresh > 0": goal_reach_thresh > 0,
            "layout has at least one 'G' cell": bool(layout.goal_cells),
            "not both random_start and gaps": not (random_start and gaps is not None),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"PointMassMaze({layout.name!r}): need {'; '.join(failed)}")

        self.layout = layout
        self.cell_size = float(cell_size)
        self.max_step = float(max_step)
        self.radius = float(radius)
        self.start_noise = float(start_noise)
        self.goal_noise = float(goal_noise)
        self.state_dim = 2
        self.goal_indices = (0, 1)
        self.action_dim = 2
        self.goal_reach_thresh = float(goal_reach_thresh)
        # Stitching: start/goal cell pairs along the path (None: 'R' start, 'G' goals).
        self.pairs: StartGoalPairs | None = None if gaps is None else stitch_pairs(layout, gaps)
        self.default_episode_length = (
            self._derived_episode_length()
            if default_episode_length is None
            else int(default_episode_length)
        )
        # Wall grid padded by one ring of walls so that outside the grid counts as wall:
        # padded[i + 1, j + 1] = wall(i, j), shape (rows + 2, cols + 2).
        self._walls = np.pad(layout.wall_mask, 1, constant_values=True)
        self.random_start = bool(random_start)
        # Start cells: the 'R' cell, or every free cell when random_start is set: (n, 2).
        self._starts = (
            layout.free_centres(cell_size)
            if random_start
            else layout.start_centre(cell_size)[None, :]
        )
        self._goals = layout.goal_centres(cell_size)  # (n_goals, 2)

    def _derived_episode_length(self) -> int:
        """About twice the straight-line-speed steps to the farthest goal, rounded up to 50."""
        if self.pairs is not None:
            far_cells = self.pairs.max_path_cells(self.layout)
        else:
            dist = self.layout.bfs_distances(self.layout.start_cell)
            far_cells = max(int(dist[g]) for g in self.layout.goal_cells)
        # +1 cell covers the start/goal noise; steps per cell = cell_size / max_step.
        steps = (far_cells + 1) * self.cell_size / self.max_step
        return 50 * math.ceil(2 * steps / 50)

    def wall_rectangles(self) -> np.ndarray:
        """(n_walls, 4) wall squares (x_min, y_min, x_max, y_max) for drawing."""
        return self.layout.wall_rectangles(self.cell_size)

    def collides(self, pos: jax.Array) -> jax.Array:
        """(...,) bool: whether the square of half-size radius at ``pos`` (..., 2) hits a wall."""
        # Corners of the square: (..., 4, 2). Since radius < cell/2, these four corners'
        # cells are exactly the cells the square overlaps.
        offsets = self.radius * jnp.array([[-1, -1], [-1, 1], [1, -1], [1, 1]], jnp.float32)
        corners = pos[..., None, :] + offsets
        idx = MazeLayout.cell_indices(corners, self.cell_size) + 1  # +1: the padding ring
        idx = jnp.clip(idx, 0, jnp.array(self._walls.shape, jnp.int32) - 1)
        return jnp.asarray(self._walls)[idx[..., 0], idx[..., 1]].any(axis=-1)

    def _observe(self, pos: jax.Array, goal: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(4,) obs = (x, y, goal_x, goal_y) and the per-step metrics."""
        obs = jnp.concatenate([pos, goal])
        return obs, {"distance": jnp.linalg.norm(pos - goal)}

    def reset(self, key: jax.Array) -> EnvState:
        """Start near the 'R' centre (or a random free cell's); goal near a random 'G' centre."""
        if self.pairs is None:
            # One draw u ~ U[0, 1)^6: start cell (1), start noise (2), goal cell (1), goal
            # noise (2).
            u = jax.random.uniform(key, (6,))
            start_cell, goal_cell = _pick(self._starts, u[0]), _pick(self._goals, u[3])
        else:  # a stitching pair replaces the cell draws u[0], u[3]
            k_u, k_pair = jax.random.split(key)
            u = jax.random.uniform(k_u, (6,))
            start_cell, goal_cell = self.pairs.sample(k_pair, self.cell_size)
        start = start_cell + self.start_noise * (2 * u[1:3] - 1)
        goal = goal_cell + self.goal_noise * (2 * u[4:6] - 1)
        obs, metrics = self._observe(start, goal)
        return EnvState.first(PointMassPhysics(pos=start, goal=goal), obs, metrics)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Move by max_step * clip(action), x then y, undoing an axis move that hits a wall."""
        physics: PointMassPhysics = state.physics
        delta = self.max_step * jnp.clip(action, -1.0, 1.0)  # (2,)
        pos = physics.pos
        for axis in range(2):  # two unrolled axis updates, not a loop over walls
            moved = pos.at[axis].add(delta[axis])
            pos = jnp.where(self.collides(moved), pos, moved)
        obs, metrics = self._observe(pos, physics.goal)
        return state.advance(PointMassPhysics(pos=pos, goal=physics.goal), obs, metrics)


def _pick(centres: np.ndarray, u: jax.Array) -> jax.Array:
    """The centre (2,) at index floor(u * n) of ``centres`` (n, 2), for u in [0, 1)."""
    n = centres.shape[0]
    return jnp.asarray(centres)[jnp.minimum(jnp.floor(u * n).astype(jnp.int32), n - 1)]


def _register_maze(name: str, layout: str, description: str, **defaults: Any) -> None:
    """Register a point-mass task on the named layout; make(name, **kw) overrides defaults."""
    register(
        name,
        functools.partial(PointMassMaze, MazeLayout.from_name(layout), **defaults),
        description=description,
    )


_register_maze(
    "point_arena",
    "OPEN_ARENA",
    "Point mass in an open 5x5 room, start in the middle, goals anywhere (cell 1.0).",
    goal_noise=0.35,
)
_register_maze("point_u_maze", "U_MAZE", "Point mass in the U maze, goals on all G cells.")
_register_maze(
    "point_u_maze_eval", "U_MAZE_EVAL", "Point mass in the U maze, goals on the far arm only."
)
_register_maze("point_big_maze", "BIG_MAZE", "Point mass in the 8x8 big maze.")
_register_maze(
    "point_big_maze_eval", "BIG_MAZE_EVAL", "Point mass in the 8x8 big maze, far goals only."
)
_register_maze("point_hardest_maze", "HARDEST_MAZE", "Point mass in the 9x12 hardest maze.")
_register_maze(
    "point_u_maze_stitch_1f2f3f",
    "U_MAZE",
    "Point mass in the U maze, stitching: start/goal cells 1, 2, 3 apart on the path.",
    gaps=parse_gaps("1f2f3f"),
)
_register_maze(
    "point_u_maze_eval_5f6f",
    "U_MAZE_EVAL_5f6f",
    "Point mass in the U maze, goals 5 and 6 cells from R (stitching eval).",
)
