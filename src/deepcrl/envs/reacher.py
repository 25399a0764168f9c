"""Reacher: a planar 2-link arm (Brax) moves its fingertip to a goal point.

Model: ``reacher.xml`` shipped inside the brax package, unchanged except that the physics
runs on Brax's ``generalized`` pipeline (0.01 s timestep, 2 frames: control dt 0.02 s).
The model's "target" body (two slide joints) only marks the goal for rendering; it has no
contacts and is held at the goal.

State (10) = [cos q0, cos q1, sin q0, sin q1, tip x, tip y, tip z, tip vx, tip vy, tip vz]
where q0, q1 are the shoulder and elbow angles and "tip" is the fingertip (the point 0.11
along link 1). Goal indices (4, 5, 6): the fingertip position. obs = state ++ goal (13).

Reset: joint angles init_q + U(-0.1, 0.1), joint velocities U(-0.005, 0.005); goal at
angle U(0, 2 pi) and radius U(0, 0.2) around the shoulder, at the fingertip's height
(radius uniform, not area-uniform, as in both public versions: near goals are favoured).
Success: tip-goal distance < 0.05. Never terminates; default episode length 1000.

Differences from the public implementations (ENVS.md): JaxGCRL uses the same pipeline and
layout; scaling-crl defaults to ``spring`` (pass ``backend="spring"``, which also switches
to the 0.005 s x 4 frames and gear-25 settings both use for spring). The goal is kept in
``physics.goal`` instead of being read back from the target body every step.
"""

from __future__ import annotations

import functools
import math
import xml.etree.ElementTree as ET
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from deepcrl.envs.base import EnvState
from deepcrl.envs.brax_common import BraxPhysics, BraxSim, BraxTask, brax_asset, load_system, rotate
from deepcrl.envs.registry import register


class Reacher(BraxTask):
    """Two-link planar arm; goal = fingertip xyz."""

    def __init__(
        self,
        *,
        backend: str = "generalized",
        goal_radius: float = 0.2,
        goal_reach_thresh: float = 0.05,
        reset_noise: float = 0.1,
        default_episode_length: int = 1000,
    ) -> None:
        """Build the arm on ``backend``; goals within ``goal_radius`` of the shoulder."""
        if goal_radius <= 0 or goal_reach_thresh <= 0 or reset_noise < 0:
            raise ValueError("Reacher: need goal_radius > 0, goal_reach_thresh > 0, noise >= 0")
        xml = brax_asset("reacher.xml")
        tip = ET.fromstring(xml).find(".//body[@name='fingertip']")
        assert tip is not None, "brax reacher.xml has no fingertip body"
        # The fingertip body has no joint, so Brax fuses it into link 1 ("body1"): its
        # position is link 1's frame applied to this offset.
        self._tip_offset = np.array(tip.get("pos", "0 0 0").split(), dtype=np.float32)
        if backend == "generalized":
            sys, n_frames = load_system(xml), 2
        else:  # spring/positional need a smaller step and weaker motors to stay stable
            sys, n_frames = load_system(xml, timestep=0.005), 4
            sys = sys.replace(actuator=sys.actuator.replace(gear=jnp.full((2,), 25.0)))
        self.sim = BraxSim(sys, backend, n_frames)
        self._arm_link = sys.link_names.index("body1")
        self.goal_radius = float(goal_radius)
        self.reset_noise = float(reset_noise)
        self.state_dim = 10
        self.goal_indices = (4, 5, 6)
        self.action_dim = sys.act_size()
        self.goal_reach_thresh = float(goal_reach_thresh)
        self.default_episode_length = int(default_episode_length)

    def _tip(self, ps: Any) -> tuple[jax.Array, jax.Array]:
        """Fingertip position and velocity, each (3,), in the world frame."""
        pos = ps.x.pos[self._arm_link]
        rot = ps.x.rot[self._arm_link]  # (4,) quaternion (w, x, y, z)
        lever = rotate(jnp.asarray(self._tip_offset), rot)  # link origin -> tip
        # Rigid body: v_tip = v_origin + omega x lever.
        vel = ps.xd.vel[self._arm_link] + jnp.cross(ps.xd.ang[self._arm_link], lever)
        return pos + lever, vel

    def _observe(self, ps: Any, goal: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(13,) obs and the per-step metrics."""
        theta = ps.q[:2]
        tip_pos, tip_vel = self._tip(ps)
        obs = jnp.concatenate([jnp.cos(theta), jnp.sin(theta), tip_pos, tip_vel, goal])
        return obs, {"distance": jnp.linalg.norm(tip_pos - goal)}

    def reset(self, key: jax.Array) -> EnvState:
        """Random arm pose near the default; goal uniform in angle and radius."""
        k_q, k_qd, k_goal = jax.random.split(key, 3)
        sys = self.sim.sys
        n = self.reset_noise
        q = sys.init_q + jax.random.uniform(k_q, (sys.q_size(),), minval=-n, maxval=n)
        qd = jax.random.uniform(k_qd, (sys.qd_size(),), minval=-0.005, maxval=0.005)
        u = jax.random.uniform(k_goal, (2,))
        radius, angle = self.goal_radius * u[0], 2 * math.pi * u[1]
        goal_xy = radius * jnp.array([jnp.cos(angle), jnp.sin(angle)])
        # Target body's slide joints (q[2:4]) hold the marker at the goal, at rest.
        q = q.at[2:4].set(goal_xy)
        qd = qd.at[2:4].set(0.0)
        ps = self.sim.init(q, qd)
        goal = jnp.concatenate([goal_xy, self._tip(ps)[0][2:3]])  # z = tip height
        obs, metrics = self._observe(ps, goal)
        return EnvState.first(BraxPhysics(pipeline_state=ps, goal=goal), obs, metrics)


register(
    "reacher",
    functools.partial(Reacher),
    description="Brax 2-link arm, fingertip to a goal within 0.2 m (radius 0.05).",
    cpu_friendly=False,
)
