"""Pusher: a 7-DoF arm (Brax) pushes a cylinder across a table to a goal point.

Model: ``pusher.xml`` shipped inside the brax package (zero gravity; the object is a
capsule on two slide joints, x and y, at height -0.275; the goal marker is a second body
on two slide joints with no contacts), on Brax's ``generalized`` pipeline as in JaxGCRL:
the model's 0.01 s timestep and 5 frames per control step (dt 0.05 s, the arm tasks'
control rate in ENVS.md). Only the wrist's three capsules touch the object.

State (20):
- [0:7]   the 7 arm joint angles (shoulder pan, shoulder lift, upper-arm roll, elbow flex,
          forearm roll, wrist flex, wrist roll);
- [7:10]  tips xyz: the midpoint between the two fingertip spheres (0.1 m ahead of the
          wrist-roll joint, between the wrist's two prongs);
- [10:13] object xyz (the cylinder's centre);
- [13:20] the 7 arm joint velocities.
Goal indices (10, 11, 12): the object position. obs = state ++ goal (23). Actions: the 7
joint torques clipped to [-1, 1] (the model's control range is [-2, 2]; like JaxGCRL we
pass the policy's [-1, 1] action unscaled).

Reset: arm at its zero pose, arm joint velocities U(-0.005, 0.005). Object and goal are
offsets from the model's position of both bodies, (0.45, -0.05), drawn in the public
code's joint order (the y slide first): object y U(-0.3, 0), x U(-0.2, 0.2); goal
``easy``: y U(-0.55, -0.25), x U(-0.2, 0.2) (next to the object's region); ``hard``:
y U(-0.65, 0.35), x U(-0.55, 0.45). The goal's z is the object's height. Object and goal
are at least 0.17 apart: 8 candidate pairs are drawn and the first valid one is kept (the
farthest pair in the ~1e-8-likely case that none is valid), a jittable rejection sampler.
The goal marker's slide joints hold it at the goal (no contacts, no gravity: it stays).
Success: object-goal distance < 0.1 (easy) / 0.05 (hard). Never terminates; default
episode length 1000.

Differences from JaxGCRL (ENVS.md; scaling-crl's ``pusher`` is the easy task on spring):
- the goal's z is the object's height; JaxGCRL uses the marker body's z (-0.323), 0.048
  below the object, so its hard radius 0.05 needed the xy error under 0.015;
- the minimum distance is enforced by resampling; JaxGCRL rescales the object's offset
  vector to length 0.17, which bounds the object's distance from the model position, not
  from the goal;
- "tips" is the point between the fingertips; JaxGCRL reads the wrist-flex link's centre
  of mass (its tips_arm body is fused into the wrist and has no frame of its own).
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from deepcrl.envs.base import EnvState
from deepcrl.envs.brax_common import BraxPhysics, BraxSim, BraxTask, brax_asset, load_system, rotate
from deepcrl.envs.registry import register

PUSHER_XML = "pusher.xml"
"""Model file inside brax/envs/assets."""
ARM_DOF = 7
"""The arm's joints: the first 7 entries of q and qd."""
GOAL_BOXES = {
    # Goal offset ranges in joint order: ((y low, y high), (x low, x high)).
    "easy": ((-0.55, -0.25), (-0.2, 0.2)),
    "hard": ((-0.65, 0.35), (-0.55, 0.45)),
}
OBJECT_BOX = ((-0.3, 0.0), (-0.2, 0.2))
"""Object offset ranges in joint order: ((y low, y high), (x low, x high))."""
MIN_GOAL_DISTANCE = 0.17
"""Object and goal start at least this far apart."""
CANDIDATES = 8
"""Object/goal pairs drawn per reset by the rejection sampler."""


class Pusher(BraxTask):
    """7-DoF arm pushing a cylinder; goal = object xyz."""

    def __init__(
        self,
        *,
        kind: str = "easy",
        goal_reach_thresh: float | None = None,
        default_episode_length: int = 1000,
    ) -> None:
        """Build the arm; ``kind`` (easy/hard) picks the goal box and default radius."""
        if kind not in GOAL_BOXES:
            raise ValueError(f"Pusher: kind must be one of {sorted(GOAL_BOXES)}, got {kind!r}")
        thresh = (
            {"easy": 0.1, "hard": 0.05}[kind] if goal_reach_thresh is None else goal_reach_thresh
        )
        if thresh <= 0:
            raise ValueError("Pusher: need goal_reach_thresh > 0")
        xml = brax_asset(PUSHER_XML)
        root = ET.fromstring(xml)
        tips = [root.find(f".//geom[@name='{n}']") for n in ("tip_arml", "tip_armr")]
        assert all(g is not None for g in tips), "brax pusher.xml lost its fingertip geoms"
        # tips_arm has no joint, so Brax fuses it into r_wrist_roll_link (at its origin).
        self._tips_offset = np.mean(
            [np.array(g.get("pos", "0 0 0").split(), np.float32) for g in tips if g is not None],
            axis=0,
        )
        sys = load_system(xml)
        self.sim = BraxSim(sys, "generalized", n_frames=5)
        self._wrist = sys.link_names.index("r_wrist_roll_link")
        self._object = sys.link_names.index("object")
        model = sys.mj_model
        # q addresses of the slide joints, (y, x) per body, in the public code's order.
        self._object_q = np.array([model.joint(f"obj_slide{a}").qposadr[0] for a in "yx"])
        self._goal_q = np.array([model.joint(f"goal_slide{a}").qposadr[0] for a in "yx"])
        self._object_z = float(sys.link.transform.pos[self._object, 2])
        self.kind = kind
        self.state_dim = 20
        self.goal_indices = (10, 11, 12)
        self.action_dim = sys.act_size()
        self.goal_reach_thresh = float(thresh)
        self.default_episode_length = int(default_episode_length)

    def _tips(self, ps: Any) -> jax.Array:
        """(3,) point between the fingertips in the world frame."""
        lever = rotate(jnp.asarray(self._tips_offset), ps.x.rot[self._wrist])
        return ps.x.pos[self._wrist] + lever

    def _observe(self, ps: Any, goal: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(23,) obs and the per-step metrics."""
        obj = ps.x.pos[self._object]
        obs = jnp.concatenate([ps.q[:ARM_DOF], self._tips(ps), obj, ps.qd[:ARM_DOF], goal])
        return obs, {"distance": jnp.linalg.norm(obj - goal)}

    def sample_offsets(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(2,) object and (2,) goal slide-joint offsets (y, x), at least 0.17 apart."""
        k_obj, k_goal = jax.random.split(key)

        def box(k: jax.Array, ranges: tuple[tuple[float, float], ...]) -> jax.Array:
            lo, hi = jnp.array(ranges).T  # (2,) each
            return jax.random.uniform(k, (CANDIDATES, 2), minval=lo, maxval=hi)

        objs, goals = box(k_obj, OBJECT_BOX), box(k_goal, GOAL_BOXES[self.kind])  # (K, 2)
        dist = jnp.linalg.norm(objs - goals, axis=1)  # (K,)
        valid = dist >= MIN_GOAL_DISTANCE
        pick = jnp.where(valid.any(), jnp.argmax(valid), jnp.argmax(dist))
        return objs[pick], goals[pick]

    def reset(self, key: jax.Array) -> EnvState:
        """Arm at rest near zero; new object position and goal."""
        k_task, k_qd = jax.random.split(key)
        obj, goal_yx = self.sample_offsets(k_task)
        sys = self.sim.sys
        q = sys.init_q.at[self._object_q].set(obj).at[self._goal_q].set(goal_yx)
        qd = (
            jnp.zeros(sys.qd_size())
            .at[:ARM_DOF]
            .set(jax.random.uniform(k_qd, (ARM_DOF,), minval=-0.005, maxval=0.005))
        )
        ps = self.sim.init(q, qd)
        # World goal: the model position of the goal body + the offsets, at object height.
        home = sys.link.transform.pos[self._object, :2]  # both bodies start at (0.45, -0.05)
        goal = jnp.concatenate([home + goal_yx[::-1], jnp.array([self._object_z])])
        obs, metrics = self._observe(ps, goal)
        return EnvState.first(BraxPhysics(pipeline_state=ps, goal=goal), obs, metrics)


register(
    "pusher_easy",
    functools.partial(Pusher, kind="easy"),
    description="Brax 7-DoF arm pushes a cylinder to a nearby goal (radius 0.1).",
    cpu_friendly=False,
)
register(
    "pusher_hard",
    functools.partial(Pusher, kind="hard"),
    description="Brax 7-DoF arm pushes a cylinder to a goal anywhere on the table (radius 0.05).",
    cpu_friendly=False,
)
