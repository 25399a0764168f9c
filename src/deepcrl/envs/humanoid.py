"""Humanoid: Brax's 17-actuator humanoid (spring pipeline) walks its torso to a 3-D goal.

Model: ``humanoid.xml`` shipped inside the brax package (11 links after MuJoCo fuses the
joint-less feet into the shins; 24 q, 23 qd, 17 motors) on Brax's ``spring`` pipeline with
a 0.0015 s timestep and 10 frames per control step (dt 0.015 s).

State (268), all from the robot, nothing from the goal:

- [0:24]    q: torso x, y, z; torso quaternion (w, x, y, z); 17 joint angles
- [24:47]   qd: torso linear and angular velocity; 17 joint velocities
- [47:50]   whole-body centre of mass c = sum_i m_i p_i / M (world frame)
- [50:53]   centre-of-mass velocity sum_i m_i v_i / M
- [53:86]   per link (11 x 3): link centre of mass p_i - c
- [86:185]  per link (11 x 9): rotational inertia about the link's own centre of mass in
            the world frame, R_i I_i R_i^T (row-major 3x3; carries the link orientation)
- [185:251] per link (11 x 6): linear velocity of the link's centre of mass, then its
            angular velocity (world frame)
- [251:268] the 17 motor torques applied during the step that led here (gear * ctrl;
            zeros after a reset)

Masses and inertias are the model's (MuJoCo's) values; the spring pipeline simulates with
its own rescaled inertias (``spring_inertia_scale``), which are not observed.

Goal indices (0, 1, 2): torso x, y, z. obs = state ++ goal (271). Actions: 17 values in
[-1, 1] (clipped), mapped linearly onto each motor's control range [-0.4, 0.4].

Reset: torso at the start point; x, y and the joint angles + U(-0.01, 0.01), velocities
U(-0.01, 0.01). Goal: start + r (cos a, sin a) with r ~ U[1, 5] (radius uniform, so near
goals are favoured) and a ~ U[0, 2 pi), at height 1.25. Success: torso xyz within 0.5 of
the goal. Terminates (done = 1) only on a fall: torso z outside [1.0, 2.0]. Default
episode length 1000.

Differences from the public implementations (ENVS.md): the goal is not part of the state
(JaxGCRL's humanoid state contains its target, a known bug); our own 268-entry layout
(brax's humanoid observation is 244 here: q without x, y, and per-link com inertia with the
constant masses and velocities, plus 23 generalised actuator forces of which 6 are always
zero); the torso quaternion and height are not perturbed at reset; no reward.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.brax_common import BraxPhysics, BraxSim, brax_asset, load_system
from deepcrl.envs.registry import register

HUMANOID_XML = "humanoid.xml"
"""Model file inside brax/envs/assets."""


def quat_to_mat(q: jax.Array) -> jax.Array:
    """(..., 3, 3) rotation matrices of unit quaternions (..., 4) in (w, x, y, z) order."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return jnp.stack([jnp.stack(r, axis=-1) for r in rows], axis=-2)


class Humanoid(GoalEnv):
    """Brax humanoid; goal = torso xyz at height 1.25; falls terminate."""

    def __init__(
        self,
        *,
        goal_distance: tuple[float, float] = (1.0, 5.0),
        goal_height: float = 1.25,
        goal_reach_thresh: float = 0.5,
        healthy_z_range: tuple[float, float] = (1.0, 2.0),
        reset_noise: float = 0.01,
        backend: str = "spring",
        default_episode_length: int = 1000,
        xml: str | None = None,
    ) -> None:
        """Build the humanoid; ``xml`` replaces the stock model (the mazes add walls to it)."""
        lo, hi = healthy_z_range
        near, far = goal_distance
        if not (0 <= near <= far and goal_reach_thresh > 0 and reset_noise >= 0 and lo < hi):
            raise ValueError(
                "Humanoid: need goal_distance (near, far) with 0 <= near <= far, "
                "goal_reach_thresh > 0, reset_noise >= 0 and healthy_z_range low < high"
            )
        sys = load_system(brax_asset(HUMANOID_XML) if xml is None else xml, timestep=0.0015)
        self.sim = BraxSim(sys, backend, n_frames=10)
        self.goal_distance = (float(near), float(far))
        self.goal_height = float(goal_height)
        self.healthy_z_range = (float(lo), float(hi))
        self.reset_noise = float(reset_noise)
        links, acts = sys.num_links(), sys.act_size()  # 11, 17
        # q, qd, com, com velocity, per link (3 + 9 + 6), motor torques: 268.
        self.state_dim = sys.q_size() + sys.qd_size() + 6 + 18 * links + acts
        self.goal_indices = (0, 1, 2)
        self.action_dim = acts
        self.goal_reach_thresh = float(goal_reach_thresh)
        self.default_episode_length = int(default_episode_length)

    def sample_start_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(2,) torso start xy (before noise) and (2,) goal xy: origin and a ring around it."""
        k_r, k_a = jax.random.split(key)
        near, far = self.goal_distance
        r = jax.random.uniform(k_r, minval=near, maxval=far)
        angle = 2 * math.pi * jax.random.uniform(k_a)
        return jnp.zeros(2), r * jnp.array([jnp.cos(angle), jnp.sin(angle)])

    def torques(self, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(17,) motor controls (the pipeline's input) and torques for an action in [-1, 1]."""
        act = self.sim.sys.actuator
        low, high = act.ctrl_range[:, 0], act.ctrl_range[:, 1]
        ctrl = low + (jnp.clip(action, -1.0, 1.0) + 1) * (high - low) / 2
        return ctrl, act.gear * ctrl

    def _observe(
        self, ps: Any, torque: jax.Array, goal: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(271,) obs = state (268, see the module docstring) ++ goal, and the metrics."""
        inertia = self.sim.sys.link.inertia
        mass = inertia.mass  # (L,)
        rot = quat_to_mat(ps.x.rot)  # (L, 3, 3) link frames
        # Link centres of mass and their frames: (L, 3), (L, 3, 3).
        p = ps.x.pos + jnp.einsum("lij,lj->li", rot, inertia.transform.pos)
        rot_i = rot @ quat_to_mat(inertia.transform.rot)
        inertia_world = rot_i @ inertia.i @ jnp.swapaxes(rot_i, -1, -2)  # (L, 3, 3)
        # Velocity of each link's centre of mass: v = v_origin + w x (p - origin): (L, 3).
        v = ps.xd.vel + jnp.cross(ps.xd.ang, p - ps.x.pos)
        com = mass @ p / mass.sum()  # (3,)
        com_vel = mass @ v / mass.sum()  # (3,)
        state = jnp.concatenate(
            [
                ps.q,
                ps.qd,
                com,
                com_vel,
                (p - com).ravel(),
                inertia_world.reshape(-1),
                jnp.concatenate([v, ps.xd.ang], axis=1).ravel(),
                torque,
            ]
        )
        obs = jnp.concatenate([state, goal])
        return obs, {"distance": jnp.linalg.norm(ps.q[:3] - goal)}

    def fallen(self, ps: Any) -> jax.Array:
        """() bool: torso height outside the healthy range."""
        lo, hi = self.healthy_z_range
        z = ps.q[2]
        return (z < lo) | (z > hi)

    def reset(self, key: jax.Array) -> EnvState:
        """New start (perturbed pose) and new goal."""
        k_task, k_q, k_qd = jax.random.split(key, 3)
        start, goal_xy = self.sample_start_goal(k_task)
        goal = jnp.append(goal_xy, self.goal_height)
        sys = self.sim.sys
        n = self.reset_noise
        noise = jax.random.uniform(k_q, (sys.q_size(),), minval=-n, maxval=n)
        noise = noise.at[2:7].set(0.0)  # keep the drop height and a unit quaternion
        q = sys.init_q.at[:2].set(start) + noise
        qd = jax.random.uniform(k_qd, (sys.qd_size(),), minval=-n, maxval=n)
        ps = self.sim.init(q, qd)
        obs, metrics = self._observe(ps, jnp.zeros(self.action_dim), goal)
        return EnvState.first(BraxPhysics(pipeline_state=ps, goal=goal), obs, metrics)

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Apply the mapped controls for one control step; done = 1 on a fall."""
        physics: BraxPhysics = state.physics
        ctrl, torque = self.torques(action)
        ps = self.sim.step(physics.pipeline_state, ctrl)
        obs, metrics = self._observe(ps, torque, physics.goal)
        return state.advance(
            BraxPhysics(pipeline_state=ps, goal=physics.goal), obs, metrics, done=self.fallen(ps)
        )


register(
    "humanoid",
    Humanoid,
    description="Brax humanoid (spring) on open ground, goal 1-5 m away at z 1.25 (radius 0.5).",
    cpu_friendly=False,
)
