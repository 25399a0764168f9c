"""Ant: a quadruped (Brax, spring pipeline) walks its torso to a goal point on the ground.

Model: ``ant.xml`` shipped inside the brax package, on Brax's ``spring`` pipeline (the
paper's choice) with a 0.005 s timestep and 10 frames per control step (dt 0.05 s).

State (29) = q (15: torso x, y, z, torso quaternion w, x, y, z, 8 joint angles) ++ qd
(14: torso linear and angular velocity, 8 joint velocities). Goal indices (0, 1): torso
x, y. obs = state ++ goal (31). Actions: 8 joint torques in [-1, 1].

Reset: torso at the start point + U(-noise, noise) in x and y, joint angles init + U(-noise,
noise), velocities noise * N(0, 1) (noise 0.1). Goal on the circle of radius 10 around the
origin at a uniform angle. Success: torso xy within 0.5 of the goal. Terminates (done = 1)
only on a fall: torso z outside [0.2, 1.0]. Default episode length 1000.

Differences from the public implementations (ENVS.md): the torso quaternion is not
perturbed at reset (adding noise to it would de-normalise it); no reward or contact-force
observation (CRL does not use them).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from typing import Any

import jax
import jax.numpy as jnp

from deepcrl.envs.base import EnvState
from deepcrl.envs.brax_common import BraxPhysics, BraxSim, BraxTask, brax_asset, load_system
from deepcrl.envs.registry import register

ANT_XML = "ant.xml"
"""Model file inside brax/envs/assets."""
ANT_Q_SIZE, ANT_QD_SIZE = 15, 14
"""The ant's own joint positions / velocities (torso free joint 7 / 6, plus 8 hinges): the
first entries of q / qd; bodies a task adds to the model (ball, block) come after them."""


def add_free_body(
    xml: str, name: str, pos: tuple[float, float, float], geom: dict[str, str]
) -> str:
    """``xml`` (an ant model) with a free-jointed body ``name`` (one geom) in <worldbody>.

    The body's free joint comes after the ant's joints, so its 7 positions (xyz, unit
    quaternion) are appended to the model's ``init_qpos`` (Brax reads q's defaults there).
    """
    root = ET.fromstring(xml)
    world, init = root.find("worldbody"), root.find(".//numeric[@name='init_qpos']")
    if world is None or init is None:
        raise ValueError("ant MJCF needs a <worldbody> and an init_qpos numeric")
    xyz = " ".join(f"{v:g}" for v in pos)
    body = ET.SubElement(world, "body", {"name": name, "pos": xyz})
    joint = {
        "name": f"{name}_root",
        "type": "free",
        "limited": "false",
        "armature": "0",
        "damping": "0",
    }
    ET.SubElement(body, "joint", joint)
    ET.SubElement(body, "geom", {"name": f"{name}_geom", **geom})
    init.set("data", f"{init.get('data', '')} {xyz} 1 0 0 0")
    return ET.tostring(root, encoding="unicode")


class Ant(BraxTask):
    """Brax ant; goal = torso xy; falls terminate."""

    extra_state_dim: int = 0
    """Entries ``extra_state`` appends after the ant's 29 (objects of a subclass's task)."""

    def __init__(
        self,
        *,
        goal_distance: float = 10.0,
        goal_reach_thresh: float = 0.5,
        healthy_z_range: tuple[float, float] = (0.2, 1.0),
        reset_noise: float = 0.1,
        backend: str = "spring",
        default_episode_length: int = 1000,
        xml: str | None = None,
    ) -> None:
        """Build the ant; ``xml`` replaces the stock model (the mazes add walls to it)."""
        lo, hi = healthy_z_range
        if goal_distance <= 0 or goal_reach_thresh <= 0 or reset_noise < 0 or not lo < hi:
            raise ValueError(
                "Ant: need goal_distance > 0, goal_reach_thresh > 0, reset_noise >= 0 and "
                "healthy_z_range (low, high) with low < high"
            )
        sys = load_system(brax_asset(ANT_XML) if xml is None else xml, timestep=0.005)
        self.sim = BraxSim(sys, backend, n_frames=10)
        self.goal_distance = float(goal_distance)
        self.healthy_z_range = (float(lo), float(hi))
        self.reset_noise = float(reset_noise)
        self.state_dim = ANT_Q_SIZE + ANT_QD_SIZE + self.extra_state_dim  # 29 (+ objects)
        self.goal_indices = (0, 1)
        self.action_dim = sys.act_size()
        self.goal_reach_thresh = float(goal_reach_thresh)
        self.default_episode_length = int(default_episode_length)

    def sample_start_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(2,) torso start xy (before noise) and (2,) goal: origin and the radius circle."""
        angle = 2 * math.pi * jax.random.uniform(key)
        goal = self.goal_distance * jnp.array([jnp.cos(angle), jnp.sin(angle)])
        return jnp.zeros(2), goal

    def extra_state(self, ps: Any) -> jax.Array:
        """(extra_state_dim,) state entries after the ant's own (none here)."""
        return jnp.zeros((0,), ps.q.dtype)

    def place_objects(
        self, key: jax.Array, q: jax.Array, qd: jax.Array, goal: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Reset hook for the joints after the ant's own: the model's rest pose here."""
        return q, qd

    def _observe(self, ps: Any, goal: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """obs = ant q (15) ++ ant qd (14) ++ extra state ++ goal, and the per-step metrics."""
        state = jnp.concatenate([ps.q[:ANT_Q_SIZE], ps.qd[:ANT_QD_SIZE], self.extra_state(ps)])
        achieved = state[jnp.asarray(self.goal_indices)]
        obs = jnp.concatenate([state, goal])
        return obs, {"distance": jnp.linalg.norm(achieved - goal)}

    def terminated(self, ps: Any) -> jax.Array:
        """() bool: the ant fell (the only way its episode ends early)."""
        return self.fallen(ps)

    def fallen(self, ps: Any) -> jax.Array:
        """() bool: torso height outside the healthy range."""
        lo, hi = self.healthy_z_range
        z = ps.q[2]
        return (z < lo) | (z > hi)

    def reset(self, key: jax.Array) -> EnvState:
        """New start (perturbed pose) and new goal."""
        k_task, k_q, k_qd = jax.random.split(key, 3)
        start, goal = self.sample_start_goal(k_task)
        sys = self.sim.sys
        n = self.reset_noise
        noise = jax.random.uniform(k_q, (ANT_Q_SIZE,), minval=-n, maxval=n)
        noise = noise.at[2:7].set(0.0)  # keep the drop height and a unit quaternion
        q = sys.init_q.at[:2].set(start).at[:ANT_Q_SIZE].add(noise)
        qd = (
            jnp.zeros(sys.qd_size())
            .at[:ANT_QD_SIZE]
            .set(n * jax.random.normal(k_qd, (ANT_QD_SIZE,)))
        )
        q, qd = self.place_objects(jax.random.fold_in(k_task, 1), q, qd, goal)
        ps = self.sim.init(q, qd)
        obs, metrics = self._observe(ps, goal)
        return EnvState.first(BraxPhysics(pipeline_state=ps, goal=goal), obs, metrics)


register(
    "ant",
    Ant,
    description="Brax ant (spring) on open ground, goal on a radius-10 circle (radius 0.5).",
    cpu_friendly=False,
)
