"""MJCF generator: a maze layout's walls as static boxes added to a robot model.

Pure XML (no simulator import), so tests can check the wall placement cheaply. Wall cell
(i, j) becomes a box geom named ``wall_i_j`` centred at (i * cell, j * cell, height / 2)
with half-sizes (cell / 2, cell / 2, height / 2): the squares of ``MazeLayout.wall_rectangles``
extruded to ``height`` (default 0.5 * cell, as in MAZES.md).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from deepcrl.envs.maze_layouts import MazeLayout

WALL_RGBA = "0.7 0.5 0.3 1"


def wall_geoms(layout: MazeLayout, cell_size: float, height: float | None = None) -> list[dict]:
    """Attributes of one box geom per '#' cell (row-major), ready for an MJCF <geom>."""
    h = 0.5 * cell_size if height is None else float(height)
    half = cell_size / 2
    return [
        {
            "name": f"wall_{i}_{j}",
            "type": "box",
            "pos": f"{i * cell_size:g} {j * cell_size:g} {h / 2:g}",
            "size": f"{half:g} {half:g} {h / 2:g}",
            # contype 0: walls never test against each other or the floor (all static).
            # conaffinity 3: bit 1 catches the robot's feet (contype 1), bit 2 whatever the
            # task marks with contype 2 (e.g. the ant torso, which ignores the floor).
            "contype": "0",
            "conaffinity": "3",
            "rgba": WALL_RGBA,
        }
        for i, j in layout.wall_cells
    ]


def add_maze_walls(
    xml: str,
    layout: MazeLayout,
    cell_size: float,
    *,
    height: float | None = None,
    wall_colliders: tuple[str, ...] = (),
) -> str:
    """``xml`` with the layout's walls added to <worldbody>.

    ``wall_colliders`` names geoms that should hit walls but keep their own contacts
    otherwise: they get contype 2 (walls accept it; a floor with conaffinity 1 does not).
    """
    root = ET.fromstring(xml)
    world = root.find("worldbody")
    if world is None:
        raise ValueError("MJCF has no <worldbody>")
    for attrs in wall_geoms(layout, cell_size, height):
        ET.SubElement(world, "geom", attrs)
    for name in wall_colliders:
        geom = root.find(f".//geom[@name='{name}']")
        if geom is None:
            raise ValueError(f"MJCF has no geom named {name!r}")
        geom.set("contype", "2")
    return ET.tostring(root, encoding="unicode")
