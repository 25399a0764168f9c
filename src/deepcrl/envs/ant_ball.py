"""Ant soccer: the Brax ant (see ant.py) dribbles a ball to a target point.

Model: brax's stock ant.xml plus a ball added by our own XML edit: a sphere of radius
0.25 and mass 0.5 kg on a free joint (it rolls), resting on the floor. The ball collides
with the floor, the ant's feet (their stock contact bit) and the ant's torso and leg
capsules (given contact bit 2, which the floor ignores, so they still pass through the
floor as in the stock ant). Physics as ``Ant``: spring pipeline, 0.005 s x 10 frames.

State (31) = the ant's 29 entries (q 15 ++ qd 14, as in ``Ant``) ++ ball x, y (2).
Goal indices (29, 30): the ball position. obs = state ++ goal (33). Actions: 8 torques.

Reset: the ant at the origin (pose noise as ``Ant``); target at radius 5 and a uniform
angle; ball at 0.2 * target + a unit-length offset, at rest. The offset's angle, measured
from the target's direction, is uniform in [-acos(-0.28), acos(-0.28)] (about +-106 deg),
which keeps the ball at least 1.2 m from the ant's start (a full circle of offsets would
put some balls inside the ant). Success: ball-target distance < 0.5. Terminates only
when the ant falls (torso z outside [0.2, 1.0]). Default episode length 1000.

Differences from the public implementations (ENVS.md): goal indices (29, 30) as in
JaxGCRL; scaling-crl's (28, 29) point at the last ant velocity and the ball's x (a bug).
Both public versions use a radius-0.5 sphere on two slide joints that slides without
friction and touches only the feet and torso; ours rolls (spring has no rolling
resistance, so a kicked ball coasts in both) and also touches the legs. The public offset
takes its y from the target's angle (``sin`` of the wrong angle), so it is not unit
length; ours is, with the clearance arc above.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import jax
import jax.numpy as jnp

from deepcrl.envs.ant import ANT_XML, Ant, add_free_body
from deepcrl.envs.brax_common import brax_asset
from deepcrl.envs.registry import register

BALL_RADIUS = 0.25
"""Ball radius in metres (its centre rests at this height)."""
BALL_CLEARANCE = 1.2
"""Smallest start distance of the ball from the ant's start (the origin)."""
ANT_BALL_COLLIDERS = (
    "torso_geom",
    "aux_1_geom",
    "aux_2_geom",
    "aux_3_geom",
    "aux_4_geom",
    "left_leg_geom",
    "right_leg_geom",
    "back_leg_geom",
    "rightback_leg_geom",
    "left_ankle_geom",
    "right_ankle_geom",
    "third_ankle_geom",
    "fourth_ankle_geom",
)
"""Ant geoms without stock contacts that get contact bit 2 to hit the ball."""


def ant_ball_xml() -> str:
    """brax's ant.xml plus the ball; torso and leg capsules collide with the ball."""
    xml = add_free_body(
        brax_asset(ANT_XML),
        "ball",
        (0.0, 0.0, BALL_RADIUS),
        {
            "type": "sphere",
            "size": f"{BALL_RADIUS:g}",
            "mass": "0.5",
            # contype 1: the floor (conaffinity 1) holds it up. conaffinity 3: the feet
            # (contype 1) and the capsules below (contype 2) push it.
            "contype": "1",
            "conaffinity": "3",
            "rgba": "0.95 0.95 0.95 1",
        },
    )
    root = ET.fromstring(xml)
    for name in ANT_BALL_COLLIDERS:
        geom = root.find(f".//geom[@name='{name}']")
        if geom is None:
            raise ValueError(f"ant.xml has no geom named {name!r}")
        geom.set("contype", "2")  # the floor's conaffinity 1 ignores bit 2
    return ET.tostring(root, encoding="unicode")


class AntBall(Ant):
    """Brax ant with a ball; goal = ball xy; falls terminate."""

    extra_state_dim = 2

    def __init__(
        self,
        *,
        goal_distance: float = 5.0,
        **ant_kwargs: float | str | int | tuple[float, float],
    ) -> None:
        """Build the ant-and-ball model; targets at ``goal_distance``; others go to ``Ant``."""
        super().__init__(xml=ant_ball_xml(), goal_distance=goal_distance, **ant_kwargs)  # type: ignore[arg-type]
        self._ball = self.sim.sys.link_names.index("ball")
        self._ball_q = self.sim.sys.q_size() - 7  # the ball's free joint: the last 7 of q
        self.goal_indices = (29, 30)

    def extra_state(self, ps: Any) -> jax.Array:
        """(2,) ball x, y."""
        return ps.x.pos[self._ball, :2]

    def ball_start(self, key: jax.Array, goal: jax.Array) -> jax.Array:
        """(2,) ball start: 0.2 * goal + a unit offset at least BALL_CLEARANCE from 0."""
        # |0.2 g + u|^2 = |0.2 g|^2 + 1 + 2 |0.2 g| cos(theta) >= c^2 fixes the largest
        # angle theta between the offset u and the goal's direction.
        near = 0.2 * jnp.linalg.norm(goal)
        cos_max = jnp.clip((BALL_CLEARANCE**2 - near**2 - 1.0) / (2 * near), -1.0, 1.0)
        theta = jnp.arccos(cos_max) * jax.random.uniform(key, minval=-1.0, maxval=1.0)
        angle = jnp.arctan2(goal[1], goal[0]) + theta
        return 0.2 * goal + jnp.array([jnp.cos(angle), jnp.sin(angle)])

    def place_objects(
        self, key: jax.Array, q: jax.Array, qd: jax.Array, goal: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Ball at ``ball_start`` on the floor, at rest (qd after the ant's is already 0)."""
        return q.at[self._ball_q : self._ball_q + 2].set(self.ball_start(key, goal)), qd


register(
    "ant_ball",
    AntBall,
    description="Brax ant (spring) dribbles a ball to a target 5 m away (radius 0.5).",
    cpu_friendly=False,
)
