"""Humanoid mazes: the Brax humanoid (see humanoid.py) inside a grid maze.

Walls: every '#' cell becomes a static box (maze_mjcf.py), cell size 2.0, height 1.0
(0.5 * cell: waist high, so a humanoid can in principle vault over them), added to brax's
stock humanoid.xml. Wall contacts: the feet only (spheres, contype 1 in the stock model),
so a humanoid must step or vault over a wall to pass it; the other geoms have no contacts
in the stock model and may pass into a wall's edge. Giving the trunk capsules wall
contacts too (capsule-box pairs) made a U-maze step 4.7x slower and its compile 2.5x
longer on the CPU (2,884 vs 609 env steps/s at 16 envs, 33 vs 82 s) for little change in
what the walls block.

Start: the 'R' cell centre (plus the humanoid's pose noise). Goal: a uniformly chosen 'G'
cell centre at height 1.25, i.e. (x, y, 1.25). Everything else (state layout 268, goal
indices (0, 1, 2), radius 0.5, falls terminate, episode 1000) is as in ``Humanoid``.
Start/goal sampling, walls and registration are shared with the ant mazes (maze_task.py).

Tasks: ``humanoid_u_maze``, ``humanoid_big_maze``, ``humanoid_hardest_maze`` and the
far-goal ``humanoid_u_maze_eval`` and ``humanoid_big_maze_eval``; the latter uses the
humanoid's own eval layout (BIG_MAZE_EVAL plus a goal at cell (2, 5), MAZES.md).

Differences from the public implementations (ENVS.md): our own wall generator; the goal
is not part of the state (see humanoid.py).
"""

from __future__ import annotations

from deepcrl.envs.humanoid import HUMANOID_XML, Humanoid
from deepcrl.envs.maze_task import MazeTask, register_maze


class HumanoidMaze(MazeTask, Humanoid):
    """Brax humanoid in a grid maze; start at 'R', goal at a random 'G' centre, z 1.25."""

    ROBOT_XML = HUMANOID_XML
    WALL_COLLIDERS = ()  # the feet collide with walls already (contype 1)
    DEFAULT_CELL_SIZE = 2.0


for _name, _layout, _what in [
    ("humanoid_u_maze", "U_MAZE", "the 5x5 U maze"),
    ("humanoid_u_maze_eval", "U_MAZE_EVAL", "the 5x5 U maze, far goals only (eval)"),
    ("humanoid_big_maze", "BIG_MAZE", "the 8x8 big maze"),
    ("humanoid_big_maze_eval", "BIG_MAZE_EVAL_HUMANOID", "the 8x8 big maze, far goals (eval)"),
    ("humanoid_hardest_maze", "HARDEST_MAZE", "the 9x12 hardest maze"),
]:
    register_maze(
        _name, HumanoidMaze, _layout, f"Brax humanoid (spring) in {_what}, cell 2 (radius 0.5)."
    )
