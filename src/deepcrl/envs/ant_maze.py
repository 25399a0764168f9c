"""Ant mazes: the Brax ant (see ant.py) inside a maze generated from a MazeLayout grid.

Walls: every '#' cell becomes a static box (maze_mjcf.py), cell size 4.0, height 2.0
(0.5 * cell), added to brax's stock ant.xml. The ant's feet (contype 1) and its torso
sphere (set to contype 2, so it still ignores the floor) collide with walls; the leg
capsules have no contacts in the stock model and can pass into a wall's edge.

Start: the 'R' cell centre + U(-0.1, 0.1) in x, y (plus the ant's pose noise). Goal: a
uniformly chosen 'G' cell centre (+ U(-goal_noise, goal_noise), default 0). Everything
else (state layout, goal indices (0, 1), radius 0.5, falls terminate, episode 1000) is
as in ``Ant``. ``*_eval`` tasks use the layouts with only the far goal cells (every maze but the
hardest, which has no eval layout).

Differences from the public implementations (ENVS.md): our own generator builds the
walls from maze_layouts.py data (same grids and cell size); the torso collides with walls.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from deepcrl.envs.ant import ANT_XML, Ant
from deepcrl.envs.brax_common import brax_asset
from deepcrl.envs.maze_layouts import LAYOUTS, MazeLayout
from deepcrl.envs.maze_mjcf import add_maze_walls
from deepcrl.envs.registry import register

TORSO_GEOM = "torso_geom"
"""Name of the ant's torso geom in brax's ant.xml."""


def ant_maze_xml(layout: MazeLayout, cell_size: float = 4.0) -> str:
    """brax's ant.xml with the layout's walls; the torso collides with walls."""
    return add_maze_walls(brax_asset(ANT_XML), layout, cell_size, wall_colliders=(TORSO_GEOM,))


class AntMaze(Ant):
    """Brax ant in a grid maze; start at 'R', goal at a random 'G' cell centre."""

    def __init__(
        self,
        layout: MazeLayout,
        *,
        cell_size: float = 4.0,
        goal_noise: float = 0.0,
        **ant_kwargs: float | str | int | tuple[float, float],
    ) -> None:
        """Build the maze model for ``layout``; other keywords go to ``Ant``."""
        if not layout.goal_cells:
            raise ValueError(f"AntMaze({layout.name!r}): layout has no 'G' cell")
        if not 0 <= goal_noise < cell_size / 2:
            raise ValueError("AntMaze: need 0 <= goal_noise < cell_size / 2")
        xml = self.model_xml(layout, cell_size)
        super().__init__(xml=xml, **ant_kwargs)  # type: ignore[arg-type]
        self.layout = layout
        self.cell_size = float(cell_size)
        self.goal_noise = float(goal_noise)
        self._start = layout.start_centre(cell_size)  # (2,)
        self._goals = layout.goal_centres(cell_size)  # (n_goals, 2)

    def model_xml(self, layout: MazeLayout, cell_size: float) -> str:
        """The MJCF model: the ant and the layout's walls (subclasses add objects)."""
        return ant_maze_xml(layout, cell_size)

    def wall_rectangles(self) -> np.ndarray:
        """(n_walls, 4) wall squares (x_min, y_min, x_max, y_max) for drawing."""
        return self.layout.wall_rectangles(self.cell_size)

    def sample_start_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """'R' centre, and a uniformly chosen 'G' centre + uniform goal noise."""
        k_cell, k_noise = jax.random.split(key)
        goal = jax.random.choice(k_cell, jnp.asarray(self._goals))
        g = self.goal_noise
        goal = goal + jax.random.uniform(k_noise, (2,), minval=-g, maxval=g)
        return jnp.asarray(self._start), goal


def _register(name: str, layout: str, description: str) -> None:
    """Register an ant maze on the named layout; make(name, **kw) overrides defaults."""
    register(
        name,
        functools.partial(AntMaze, MazeLayout.from_name(layout)),
        description=description,
        cpu_friendly=False,
    )


for _name, _layout, _what in [
    ("ant_u_maze", "U_MAZE", "the 5x5 U maze"),
    ("ant_u4_maze", "U4_MAZE", "the long U4 maze"),
    ("ant_u5_maze", "U5_MAZE", "the longer U5 maze"),
    ("ant_big_maze", "BIG_MAZE", "the 8x8 big maze"),
    ("ant_hardest_maze", "HARDEST_MAZE", "the 9x12 hardest maze"),
]:
    _register(_name, _layout, f"Brax ant (spring) in {_what}, cell 4 (radius 0.5).")
    if f"{_layout}_EVAL" in LAYOUTS:  # the hardest maze has no eval layout
        _register(
            f"{_name}_eval", f"{_layout}_EVAL", f"Brax ant in {_what}, far goals only (eval)."
        )
