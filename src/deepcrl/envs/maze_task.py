"""What every robot-in-a-maze task shares: walls, start/goal pairs, registration.

A maze task is a robot task (``Ant``, ``Humanoid``, ...) plus a ``MazeLayout``:

- the model is the robot's MJCF with one static box per '#' cell (``maze_mjcf.add_maze_walls``);
- every reset draws one row of a precomputed start/goal table (``StartGoalPairs``): an
  (n_pairs, 2, 2) array of (start centre, goal centre) cell centres and their
  probabilities, built with numpy at construction, sampled with one ``jax.random.choice``.

Two tables exist. ``layout_pairs``: start at the 'R' cell, goal uniform over the 'G' cells
(the ordinary mazes and their ``_eval`` layouts). ``stitch_pairs``: the stitching
(generalisation) study: cells along the path from 'R' to the farthest cell, pairs
(path[i], path[i + k]) for the chosen gaps k, each gap equally likely, then i uniform
among the pairs of that gap. The point-mass mazes (point_mass.py) use the same tables.

``MazeTask`` is a mixin placed before the robot class (``class AntMaze(MazeTask, Ant)``):
it builds the maze XML, hands it to the robot's ``__init__`` and provides the robot's
``sample_start_goal`` (start xy, goal xy) from the table.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from deepcrl.envs.base import GoalEnv
from deepcrl.envs.brax_common import brax_asset
from deepcrl.envs.maze_layouts import LAYOUTS, Cell, MazeLayout
from deepcrl.envs.maze_mjcf import add_maze_walls
from deepcrl.envs.registry import register


@dataclasses.dataclass(frozen=True)
class StartGoalPairs:
    """A table of (start cell, goal cell) pairs and the probability of drawing each."""

    cells: np.ndarray
    """(n_pairs, 2, 2) int grid cells: [:, 0] start (i, j), [:, 1] goal (i, j)."""
    probs: np.ndarray | None
    """(n_pairs,) float probabilities, or None for uniform."""

    def centres(self, cell_size: float) -> np.ndarray:
        """(n_pairs, 2, 2) float32 cell centres: [:, 0] start xy, [:, 1] goal xy."""
        return self.cells.astype(np.float32) * np.float32(cell_size)

    def sample(self, key: jax.Array, cell_size: float) -> tuple[jax.Array, jax.Array]:
        """(2,) start centre and (2,) goal centre of one pair, drawn by its probability."""
        table = jnp.asarray(self.centres(cell_size))  # (n_pairs, 2, 2), an XLA constant
        p = None if self.probs is None else jnp.asarray(self.probs)
        idx = jax.random.choice(key, table.shape[0], p=p)
        return table[idx, 0], table[idx, 1]

    def max_path_cells(self, layout: MazeLayout) -> int:
        """Longest shortest-path length (in cells) from a pair's start to its goal."""
        return max(
            layout.path_distance((int(s[0]), int(s[1])), (int(g[0]), int(g[1])))
            for s, g in self.cells
        )


def layout_pairs(layout: MazeLayout) -> StartGoalPairs:
    """Start at 'R', goal uniform over the 'G' cells (row-major order)."""
    if not layout.goal_cells:
        raise ValueError(f"maze {layout.name!r}: layout has no 'G' cell")
    cells = np.array([(layout.start_cell, g) for g in layout.goal_cells], dtype=np.int64)
    return StartGoalPairs(cells=cells, probs=None)


def stitch_path(layout: MazeLayout) -> tuple[Cell, ...]:
    """Cells of the shortest path from 'R' to the free cell farthest from it.

    For the U-shaped mazes this path visits every free cell, in order along the corridor.
    """
    dist = layout.bfs_distances(layout.start_cell)
    far = max(layout.free_cells, key=lambda c: (int(dist[c]), c))
    return layout.shortest_path(layout.start_cell, far)


def parse_gaps(spec: str) -> tuple[int, ...]:
    """Gaps of a stitching name: "1f2f3f" -> (1, 2, 3) (k cells forward)."""
    if not re.fullmatch(r"(\d+f)+", spec):
        raise ValueError(f"gap spec must look like '1f2f3f', got {spec!r}")
    return tuple(int(k) for k in re.findall(r"(\d+)f", spec))


def stitch_pairs(layout: MazeLayout, gaps: tuple[int, ...]) -> StartGoalPairs:
    """Pairs (path[i], path[i + k]) for k in ``gaps``: each gap 1/len(gaps), i uniform."""
    path = stitch_path(layout)
    if not gaps or len(set(gaps)) != len(gaps) or min(gaps) < 1 or max(gaps) >= len(path):
        raise ValueError(
            f"maze {layout.name!r}: gaps must be distinct, in 1..{len(path) - 1} "
            f"(the path from 'R' has {len(path)} cells), got {gaps}"
        )
    cells, probs = [], []
    for k in gaps:
        n = len(path) - k  # valid i: 0 .. n - 1
        cells += [(path[i], path[i + k]) for i in range(n)]
        probs += [1.0 / (len(gaps) * n)] * n
    return StartGoalPairs(cells=np.array(cells, dtype=np.int64), probs=np.array(probs))


class MazeTask:
    """Mixin for a robot in a grid maze; put it before the robot class in the bases.

    Subclasses set ``ROBOT_XML`` (a model in brax/envs/assets), ``WALL_COLLIDERS`` (robot
    geoms that should hit walls, see maze_mjcf.add_maze_walls) and ``DEFAULT_CELL_SIZE``.
    The robot class must accept ``xml=`` and call ``self.sample_start_goal(key)`` -> (2,)
    start xy, (2,) goal xy at reset.
    """

    ROBOT_XML: ClassVar[str]
    WALL_COLLIDERS: ClassVar[tuple[str, ...]]
    DEFAULT_CELL_SIZE: ClassVar[float]

    layout: MazeLayout
    """The maze grid."""
    cell_size: float
    """Side of one grid cell in metres."""
    goal_noise: float
    """Goal = goal cell centre + U(-goal_noise, goal_noise) in x and y."""
    pairs: StartGoalPairs
    """Start/goal cell pairs drawn at reset."""

    def __init__(
        self,
        layout: MazeLayout,
        *,
        cell_size: float | None = None,
        goal_noise: float = 0.0,
        gaps: tuple[int, ...] | None = None,
        **robot_kwargs: Any,
    ) -> None:
        """Maze on ``layout``; ``gaps`` switches to stitching pairs; the rest go to the robot."""
        cell = self.DEFAULT_CELL_SIZE if cell_size is None else float(cell_size)
        name = type(self).__name__
        if cell <= 0 or not 0 <= goal_noise < cell / 2:
            raise ValueError(f"{name}: need cell_size > 0 and 0 <= goal_noise < cell_size / 2")
        self.layout = layout
        self.cell_size = cell
        self.goal_noise = float(goal_noise)
        self.pairs = layout_pairs(layout) if gaps is None else stitch_pairs(layout, tuple(gaps))
        super().__init__(xml=self.maze_xml(layout, cell), **robot_kwargs)  # type: ignore[call-arg]

    @classmethod
    def maze_xml(cls, layout: MazeLayout, cell_size: float | None = None) -> str:
        """The robot's MJCF with the layout's walls (height 0.5 * cell); colliders marked."""
        cell = cls.DEFAULT_CELL_SIZE if cell_size is None else float(cell_size)
        return add_maze_walls(
            brax_asset(cls.ROBOT_XML), layout, cell, wall_colliders=cls.WALL_COLLIDERS
        )

    def wall_rectangles(self) -> np.ndarray:
        """(n_walls, 4) wall squares (x_min, y_min, x_max, y_max) for drawing."""
        return self.layout.wall_rectangles(self.cell_size)

    def sample_start_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(2,) start cell centre and (2,) goal cell centre + uniform goal noise."""
        k_cell, k_noise = jax.random.split(key)
        start, goal = self.pairs.sample(k_cell, self.cell_size)
        g = self.goal_noise
        return start, goal + jax.random.uniform(k_noise, (2,), minval=-g, maxval=g)


def eval_variants(layout: str) -> dict[str, str]:
    """Evaluation layouts of ``layout``: task-name suffix -> layout name.

    E.g. U_MAZE -> {"eval": "U_MAZE_EVAL", "single_eval": ..., "eval_5f6f": ...}.
    """
    pattern = re.compile(rf"{re.escape(layout)}_(SINGLE_EVAL|EVAL(_(\d+f)+)?)")
    return {
        m.group(1).lower(): name for name in LAYOUTS if (m := pattern.fullmatch(name)) is not None
    }


def register_maze(
    name: str, cls: Callable[..., GoalEnv], layout: str, description: str, **defaults: Any
) -> None:
    """Register maze class ``cls`` on the named layout; make(name, **kw) overrides defaults."""
    register(
        name,
        functools.partial(cls, MazeLayout.from_name(layout), **defaults),
        description=description,
        cpu_friendly=False,
    )


def register_stitch_mazes(
    name: str,
    cls: Callable[..., GoalEnv],
    layout: str,
    what: str,
    gap_specs: tuple[str, ...],
) -> None:
    """Register ``{name}_stitch_{spec}`` (e.g. ant_u_maze_stitch_1f2f3f) for each gap spec."""
    for spec in gap_specs:
        gaps = parse_gaps(spec)
        register_maze(
            f"{name}_stitch_{spec}",
            cls,
            layout,
            f"{what}, stitching: start/goal cells {', '.join(map(str, gaps))} apart on the path.",
            gaps=gaps,
        )
