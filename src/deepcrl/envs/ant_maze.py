"""Ant mazes: the Brax ant (see ant.py) inside a maze generated from a MazeLayout grid.

Walls: every '#' cell becomes a static box (maze_mjcf.py), cell size 4.0, height 2.0
(0.5 * cell), added to brax's stock ant.xml. The ant's feet (contype 1) and its torso
sphere (set to contype 2, so it still ignores the floor) collide with walls; the leg
capsules have no contacts in the stock model and can pass into a wall's edge.

Start: the 'R' cell centre + U(-0.1, 0.1) in x, y (plus the ant's pose noise). Goal: a
uniformly chosen 'G' cell centre (+ U(-goal_noise, goal_noise), default 0). Everything
else (state layout, goal indices (0, 1), radius 0.5, falls terminate, episode 1000) is
as in ``Ant``. Start/goal sampling, walls and registration are shared with the other
robots' mazes (maze_task.py).

Tasks: ``ant_{u,u2,...,u7,big,hardest}_maze``; their evaluation layouts as
``*_eval`` (far goals only), ``*_single_eval`` (one far goal) and, for the U maze,
``ant_u_maze_eval_1f2f3f`` ... ``ant_u_maze_eval_5f6f`` (goals exactly k cells forward
from 'R'). Stitching: ``ant_{u,u2,u3,u4,u5}_maze_stitch_{1f2f3f,1f2f3f4f}`` train on
start/goal pairs 1-3 (or 1-4) cells apart along the maze's path (maze_task.stitch_pairs),
starting anywhere on the path; evaluate them on the far-goal ``_eval`` layouts.

Differences from the public implementations (ENVS.md): our own generator builds the
walls from maze_layouts.py data (same grids and cell size); the torso collides with
walls. Stitching pairs follow the shortest path from 'R' to the farthest cell (for the U
mazes this is the only path and covers every free cell).
"""

from __future__ import annotations

from deepcrl.envs.ant import ANT_XML, Ant
from deepcrl.envs.maze_layouts import MazeLayout
from deepcrl.envs.maze_task import MazeTask, eval_variants, register_maze, register_stitch_mazes

TORSO_GEOM = "torso_geom"
"""Name of the ant's torso geom in brax's ant.xml."""

STITCH_GAPS = ("1f2f3f", "1f2f3f4f")
"""Gap sets of the registered stitching tasks (train on these, evaluate on far goals)."""


def ant_maze_xml(layout: MazeLayout, cell_size: float = 4.0) -> str:
    """brax's ant.xml with the layout's walls; the torso collides with walls."""
    return AntMaze.maze_xml(layout, cell_size)


class AntMaze(MazeTask, Ant):
    """Brax ant in a grid maze; start at 'R', goal at a random 'G' cell centre."""

    ROBOT_XML = ANT_XML
    WALL_COLLIDERS = (TORSO_GEOM,)
    DEFAULT_CELL_SIZE = 4.0


for _name, _layout, _what, _stitch in [
    ("ant_u_maze", "U_MAZE", "the 5x5 U maze", True),
    ("ant_u2_maze", "U2_MAZE", "the U2 maze", True),
    ("ant_u3_maze", "U3_MAZE", "the U3 maze", True),
    ("ant_u4_maze", "U4_MAZE", "the long U4 maze", True),
    ("ant_u5_maze", "U5_MAZE", "the longer U5 maze", True),
    ("ant_u6_maze", "U6_MAZE", "the U6 maze", False),
    ("ant_u7_maze", "U7_MAZE", "the U7 maze", False),
    ("ant_big_maze", "BIG_MAZE", "the 8x8 big maze", False),
    ("ant_hardest_maze", "HARDEST_MAZE", "the 9x12 hardest maze", False),
]:
    register_maze(_name, AntMaze, _layout, f"Brax ant (spring) in {_what}, cell 4 (radius 0.5).")
    for _suffix, _eval_layout in eval_variants(_layout).items():  # the hardest maze has none
        register_maze(
            f"{_name}_{_suffix}",
            AntMaze,
            _eval_layout,
            f"Brax ant in {_what}, goals of layout {_eval_layout} (eval).",
        )
    if _stitch:
        register_stitch_mazes(_name, AntMaze, _layout, f"Brax ant in {_what}", STITCH_GAPS)
