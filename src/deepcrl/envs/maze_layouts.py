"""Maze layouts as data, plus a small simulator-independent parser (numpy only).

Grid cell (i, j) has its centre at x = i * cell, y = j * cell (row index -> x, column index
-> y). Characters: '#' wall block (a square of side ``cell`` centred on the cell centre),
'R' start cell, 'G' possible goal cell, '.' free cell that is not a goal.

``*_EVAL`` layouts keep only the far goals. The U-maze ``_EVAL_kf...`` variants are the
stitching evaluation layouts (goals k cells forward along the path from R). The same data
serves the point-mass mazes here and the Brax ant (cell 4.0) / humanoid (cell 2.0) mazes.
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
from typing import Any

import numpy as np

Cell = tuple[int, int]
"""(row i, column j) grid index."""

WALL, START, GOAL, FREE = "#", "R", "G", "."
_ALLOWED = frozenset(WALL + START + GOAL + FREE)
# 4-neighbourhood moves in (di, dj).
_MOVES: tuple[Cell, ...] = ((1, 0), (-1, 0), (0, 1), (0, -1))


LAYOUTS: dict[str, tuple[str, ...]] = {
    "U_MAZE": (
        "#####",
        "#RGG#",
        "###G#",
        "#GGG#",
        "#####",
    ),
    "U_MAZE_EVAL": (
        "#####",
        "#R..#",
        "###.#",
        "#GGG#",
        "#####",
    ),
    "U_MAZE_SINGLE_EVAL": (
        "#####",
        "#R..#",
        "###.#",
        "#G..#",
        "#####",
    ),
    "U_MAZE_EVAL_1f2f3f4f5f": (
        "#####",
        "#RGG#",
        "###G#",
        "#.GG#",
        "#####",
    ),
    "U_MAZE_EVAL_1f2f3f4f": (
        "#####",
        "#RGG#",
        "###G#",
        "#..G#",
        "#####",
    ),
    "U_MAZE_EVAL_1f2f3f": (
        "#####",
        "#RGG#",
        "###G#",
        "#...#",
        "#####",
    ),
    "U_MAZE_EVAL_5f6f": (
        "#####",
        "#R..#",
        "###.#",
        "#GG.#",
        "#####",
    ),
    "U2_MAZE": (
        "######",
        "#RGGG#",
        "####G#",
        "#GGGG#",
        "######",
    ),
    "U2_MAZE_EVAL": (
        "######",
        "#R...#",
        "####.#",
        "#GGGG#",
        "######",
    ),
    "U3_MAZE": (
        "#######",
        "#RGGGG#",
        "#####G#",
        "#GGGGG#",
        "#######",
    ),
    "U3_MAZE_EVAL": (
        "#######",
        "#R....#",
        "#####.#",
        "#GGGGG#",
        "#######",
    ),
    "U3_MAZE_SINGLE_EVAL": (
        "#######",
        "#R....#",
        "#####.#",
        "#G....#",
        "#######",
    ),
    "U4_MAZE": (
        "#####",
        "#GGG#",
        "#R#G#",
        "###G#",
        "#G#G#",
        "#GGG#",
        "#####",
    ),
    "U4_MAZE_EVAL": (
        "#####",
        "#...#",
        "#R#.#",
        "###.#",
        "#G#.#",
        "#GGG#",
        "#####",
    ),
    "U5_MAZE": (
        "########",
        "#GGGGGG#",
        "#R####G#",
        "######G#",
        "#G####G#",
        "#GGGGGG#",
        "########",
    ),
    "U5_MAZE_EVAL": (
        "########",
        "#......#",
        "#R####.#",
        "######.#",
        "#G####G#",
        "#GGGGGG#",
        "########",
    ),
    "U5_MAZE_SINGLE_EVAL": (
        "########",
        "#......#",
        "#R####.#",
        "######.#",
        "#G####.#",
        "#......#",
        "########",
    ),
    "U6_MAZE": (
        "#######",
        "#GGGGG#",
        "#R###G#",
        "#####G#",
        "#G###G#",
        "#GGGGG#",
        "#######",
    ),
    "U6_MAZE_EVAL": (
        "#######",
        "#.....#",
        "#R###.#",
        "#####.#",
        "#G###G#",
        "#GGGGG#",
        "#######",
    ),
    "U7_MAZE": (
        "######",
        "#GGGG#",
        "#R##G#",
        "####G#",
        "#G##G#",
        "#GGGG#",
        "######",
    ),
    "U7_MAZE_EVAL": (
        "######",
        "#....#",
        "#R##.#",
        "####.#",
        "#G##G#",
        "#GGGG#",
        "######",
    ),
    "BIG_MAZE": (
        "########",
        "#RG##GG#",
        "#GG#GGG#",
        "##GGG###",
        "#GG#GGG#",
        "#G#GG#G#",
        "#GGG#GG#",
        "########",
    ),
    "BIG_MAZE_EVAL": (
        "########",
        "#R.##GG#",
        "#..#..G#",
        "##...###",
        "#..#...#",
        "#.#G.#G#",
        "#.GG#GG#",
        "########",
    ),
    # The humanoid's BIG_MAZE_EVAL has one extra goal at cell (2, 5).
    "BIG_MAZE_EVAL_HUMANOID": (
        "########",
        "#R.##GG#",
        "#..#.GG#",
        "##...###",
        "#..#...#",
        "#.#G.#G#",
        "#.GG#GG#",
        "########",
    ),
    "HARDEST_MAZE": (
        "############",
        "#RGGG#GGGGG#",
        "#G##G#G#G#G#",
        "#GGGGGG#GGG#",
        "#G####G###G#",
        "#GG#G#GGGGG#",
        "##G#G#G#G###",
        "#GG#GGG#GGG#",
        "############",
    ),
    # Ant push (ant_push.py): a movable block fills the junction cell (2, 2) at (8, 8);
    # pushing it +x opens the way to the goal at (8, 16), pushing it +y the one at (16, 8).
    "ANT_PUSH": (
        "######",
        "#R.###",
        "#...G#",
        "##.###",
        "##G###",
        "######",
    ),
    # Open 5x5 room for demos: border walls only, start in the middle, goals everywhere else.
    "OPEN_ARENA": (
        "#######",
        "#GGGGG#",
        "#GGGGG#",
        "#GGRGG#",
        "#GGGGG#",
        "#GGGGG#",
        "#######",
    ),
}


@dataclasses.dataclass(frozen=True)
class MazeLayout:
    """A parsed maze grid: wall/start/goal/free cells and their centres for a cell size."""

    grid: tuple[str, ...]
    """Row strings, all the same length, over the characters '#', 'R', 'G', '.'."""
    name: str = ""
    """Layout name (for messages and plots)."""

    def __post_init__(self) -> None:
        """Check the grid is rectangular, uses known characters and has one start cell."""
        if not self.grid or len({len(row) for row in self.grid}) != 1 or not self.grid[0]:
            raise ValueError(f"maze {self.name!r}: rows must be non-empty and of equal length")
        bad = set("".join(self.grid)) - _ALLOWED
        if bad:
            raise ValueError(f"maze {self.name!r}: unknown characters {sorted(bad)}")
        starts = sum(row.count(START) for row in self.grid)
        if starts != 1:
            raise ValueError(f"maze {self.name!r}: needs exactly one 'R' cell, found {starts}")

    @classmethod
    def from_name(cls, name: str) -> MazeLayout:
        """Parse the layout registered in ``LAYOUTS`` under ``name``."""
        if name not in LAYOUTS:
            close = difflib.get_close_matches(name, list(LAYOUTS), n=3, cutoff=0.0)
            raise KeyError(f"unknown maze layout {name!r}; closest: {', '.join(close)}")
        return cls(LAYOUTS[name], name=name)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the grid."""
        return len(self.grid), len(self.grid[0])

    def _cells(self, chars: str) -> tuple[Cell, ...]:
        """Row-major cells whose character is one of ``chars``."""
        return tuple(
            (i, j) for i, row in enumerate(self.grid) for j, c in enumerate(row) if c in chars
        )

    @property
    def wall_cells(self) -> tuple[Cell, ...]:
        """Cells marked '#', row-major."""
        return self._cells(WALL)

    @property
    def free_cells(self) -> tuple[Cell, ...]:
        """Cells that are not walls ('R', 'G' and '.'), row-major."""
        return self._cells(START + GOAL + FREE)

    @property
    def goal_cells(self) -> tuple[Cell, ...]:
        """Cells marked 'G', row-major."""
        return self._cells(GOAL)

    @property
    def start_cell(self) -> Cell:
        """The single cell marked 'R'."""
        return self._cells(START)[0]

    @property
    def wall_mask(self) -> np.ndarray:
        """(rows, cols) bool array, True on wall cells."""
        return np.array([[c == WALL for c in row] for row in self.grid], dtype=bool)

    def is_free(self, cell: Cell) -> bool:
        """Whether ``cell`` lies inside the grid and is not a wall."""
        i, j = cell
        rows, cols = self.shape
        return 0 <= i < rows and 0 <= j < cols and self.grid[i][j] != WALL

    @staticmethod
    def cell_centres(cells: tuple[Cell, ...] | list[Cell], cell_size: float) -> np.ndarray:
        """(n, 2) float32 centres: (x, y) = (i * cell_size, j * cell_size)."""
        return np.asarray(cells, dtype=np.float32).reshape(-1, 2) * np.float32(cell_size)

    @staticmethod
    def cell_indices(positions: Any, cell_size: float) -> Any:
        """Integer (i, j) of the cell holding each position (..., 2), the inverse of
        cell_centres (a cell spans its centre +/- cell_size / 2); NumPy or JAX arrays."""
        return ((positions / cell_size + 0.5) // 1).astype("int32")

    def start_centre(self, cell_size: float) -> np.ndarray:
        """(2,) centre of the start cell."""
        return self.cell_centres([self.start_cell], cell_size)[0]

    def goal_centres(self, cell_size: float) -> np.ndarray:
        """(n_goals, 2) centres of the goal cells."""
        return self.cell_centres(self.goal_cells, cell_size)

    def wall_centres(self, cell_size: float) -> np.ndarray:
        """(n_walls, 2) centres of the wall cells."""
        return self.cell_centres(self.wall_cells, cell_size)

    def free_centres(self, cell_size: float) -> np.ndarray:
        """(n_free, 2) centres of the free cells."""
        return self.cell_centres(self.free_cells, cell_size)

    def wall_rectangles(self, cell_size: float) -> np.ndarray:
        """(n_walls, 4) wall squares as (x_min, y_min, x_max, y_max), for drawing."""
        centres = self.wall_centres(cell_size)  # (n, 2)
        half = np.float32(cell_size / 2)
        return np.concatenate([centres - half, centres + half], axis=1)

    def with_goals(self, goals: tuple[Cell, ...] | list[Cell], name: str = "") -> MazeLayout:
        """A copy whose goal cells are exactly ``goals`` (other non-wall cells become '.')."""
        wanted = set(goals)
        for cell in wanted:
            if not self.is_free(cell) or cell == self.start_cell:
                raise ValueError(f"goal {cell} must be a free cell other than the start")
        rows = tuple(
            "".join(
                GOAL if (i, j) in wanted else (FREE if c == GOAL else c) for j, c in enumerate(row)
            )
            for i, row in enumerate(self.grid)
        )
        return MazeLayout(rows, name=name or self.name)

    def bfs_distances(self, source: Cell) -> np.ndarray:
        """(rows, cols) int path length in cells from ``source`` (4-connected); -1 if none."""
        if not self.is_free(source):
            raise ValueError(f"cell {source} is not a free cell of maze {self.name!r}")
        dist = np.full(self.shape, -1, dtype=np.int64)
        dist[source] = 0
        queue = collections.deque([source])
        while queue:
            i, j = queue.popleft()
            for di, dj in _MOVES:
                nxt = (i + di, j + dj)
                if self.is_free(nxt) and dist[nxt] < 0:
                    dist[nxt] = dist[i, j] + 1
                    queue.append(nxt)
        return dist

    def path_distance(self, a: Cell, b: Cell) -> int:
        """Shortest 4-connected path length in cells from free cell ``a`` to free cell ``b``."""
        if not self.is_free(b):
            raise ValueError(f"cell {b} is not a free cell of maze {self.name!r}")
        d = int(self.bfs_distances(a)[b])
        if d < 0:
            raise ValueError(f"no path from {a} to {b} in maze {self.name!r}")
        return d

    def shortest_path(self, a: Cell, b: Cell) -> tuple[Cell, ...]:
        """Cells of one shortest path from ``a`` to ``b``, both included."""
        dist = self.bfs_distances(b)  # walk downhill in distance-to-b from a
        if dist[a] < 0:
            raise ValueError(f"no path from {a} to {b} in maze {self.name!r}")
        path = [a]
        while path[-1] != b:
            i, j = path[-1]
            path.append(
                next(
                    (i + di, j + dj)
                    for di, dj in _MOVES
                    if self.is_free((i + di, j + dj)) and dist[i + di, j + dj] == dist[i, j] - 1
                )
            )
        return tuple(path)
