"""Ant push: the Brax ant must push a movable block out of a junction to reach its goal.

Maze (``ANT_PUSH`` in maze_layouts.py, cell 4.0, walls as in ant_maze.py)::

    ######      row i -> x = 4 i, column j -> y = 4 j
    #R.###      R (1, 1) = (4, 4): start
    #...G#      block on cell (2, 2) = (8, 8); G (2, 4) = (8, 16)
    ##.###
    ##G###      G (4, 2) = (16, 8)
    ######

The start area (cells (1, 1), (1, 2), (2, 1)) meets the two goal corridors only at the
junction cell (2, 2), which a 3.6 x 3.6 x 1.8 m block (90% of the cell, like the public
model's 7.2 m block in 8 m cells) fills. Pushing it from (1, 2), i.e. +x, opens the route
to (8, 16) and shuts the one to (16, 8); pushing it +y from (2, 1) does the opposite. So
the goal decides which way to push, and a wrong push can lock the goal out (Sokoban-like).
The geometry is the public layout's at half the cell size: start region, block at (8, 8)
and goals (16, 8) / (8, 16) in the same places relative to each other.

Physics: the ant as in ``Ant`` (spring pipeline, 0.005 s x 10 frames). The block is a
free-jointed box (0.25 kg, friction 0.5) resting on the floor, so floor friction stops it
when the ant stops pushing. (Spring ignores joint damping, so a block on slide joints with
no floor contact would coast forever after a push.) Contacts: the block touches the floor,
every wall, the ant's feet and its torso (contact bit 4 for floor-and-wall, 1 and 2 for
feet and torso), and nothing else; the ant cannot squeeze past it (gaps 0.2 m < torso).

State (31) = the ant's 29 entries (as in ``Ant``) ++ block x, y (2). Goal indices (0, 1):
torso x, y. obs = state ++ goal (33). Actions: 8 torques.

Reset: torso at the 'R' centre + U(-0.1, 0.1) (pose noise as ``Ant``); block at rest at
(8, 8), unrotated; goal = (16, 8) or (8, 16) with equal probability, + U(0, 2) in x and
y (as in both public versions; it stays inside the goal cell). Success: torso within 0.5
of the goal. Terminates only on a fall (torso z outside [0.2, 1.0]). Episode 1000.

Differences from the public implementations (ENVS.md): they run only on MJX (asserted);
ours runs on Brax spring, like the other ant tasks, with our own maze grid (cell 4 instead
of 8, so the start is 5.7 m from the block rather than 11.3 m) and a block that rests on
the floor with friction instead of a nearly massless (0.0002 kg) one on three slide joints.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from typing import Any

import jax

from deepcrl.envs.ant import add_free_body
from deepcrl.envs.ant_maze import AntMaze
from deepcrl.envs.maze_layouts import MazeLayout
from deepcrl.envs.registry import register

BLOCK_CELL = (2, 2)
"""Grid cell the block starts on (the junction of ANT_PUSH)."""
BLOCK_HALF = (1.8, 1.8, 0.9)
"""Block half-sizes in metres (x, y, z) for cell size 4 (scaled with the cell)."""


def ant_push_xml(layout: MazeLayout, cell_size: float) -> str:
    """brax's ant.xml with the layout's walls and the movable block on BLOCK_CELL."""
    xml = AntMaze.maze_xml(layout, cell_size)
    scale = cell_size / 4.0
    hx, hy, hz = (scale * h for h in BLOCK_HALF)
    i, j = BLOCK_CELL
    xml = add_free_body(
        xml,
        "block",
        (i * cell_size, j * cell_size, hz),
        {
            "type": "box",
            "size": f"{hx:g} {hy:g} {hz:g}",
            "mass": "0.25",
            "friction": "0.5 0.5 0.5",
            # contype 4: floor and walls (their conaffinity gets bit 4 below); conaffinity
            # 3: the feet (contype 1) and the torso (contype 2, set by add_maze_walls).
            "contype": "4",
            "conaffinity": "3",
            "rgba": "0.8 0.2 0.2 1",
        },
    )
    root = ET.fromstring(xml)
    for geom in root.iter("geom"):
        name = geom.get("name") or ""
        if name == "floor" or name.startswith("wall_"):
            geom.set("conaffinity", str(int(geom.get("conaffinity", "0")) | 4))
    return ET.tostring(root, encoding="unicode")


class AntPush(AntMaze):
    """Brax ant in the ANT_PUSH maze; a movable block guards both goals."""

    extra_state_dim = 2

    def __init__(
        self,
        layout: MazeLayout | None = None,
        *,
        goal_noise: float = 1.0,
        **ant_kwargs: float | str | int | tuple[float, float],
    ) -> None:
        """Build the push maze (``layout`` defaults to ANT_PUSH); goals are 'G' centres +
        U(0, 2 goal_noise) in x and y; other keywords go to ``Ant``."""
        layout = MazeLayout.from_name("ANT_PUSH") if layout is None else layout
        if not layout.is_free(BLOCK_CELL):
            raise ValueError(f"AntPush: the block's cell {BLOCK_CELL} must be free")
        super().__init__(layout, goal_noise=goal_noise, **ant_kwargs)  # type: ignore[arg-type]
        self._block = self.sim.sys.link_names.index("block")

    @classmethod
    def maze_xml(cls, layout: MazeLayout, cell_size: float | None = None) -> str:
        """The ant, the walls and the block."""
        return ant_push_xml(layout, cls.DEFAULT_CELL_SIZE if cell_size is None else cell_size)

    def extra_state(self, ps: Any) -> jax.Array:
        """(2,) block x, y."""
        return ps.x.pos[self._block, :2]

    def sample_start_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """'R' centre, and a uniform 'G' centre + U(0, 2 goal_noise) in x and y."""
        start, goal = super().sample_start_goal(key)  # centre + U(-goal_noise, goal_noise)
        return start, goal + self.goal_noise


register(
    "ant_push",
    functools.partial(AntPush),
    description="Brax ant (spring) pushes a block out of a junction to reach a goal (radius 0.5).",
    cpu_friendly=False,
)
