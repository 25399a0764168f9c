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
from typing import Any

import jax
import jax.numpy as jnp

from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.brax_common import BraxPhysics, BraxSim, brax_asset, load_system
from deepcrl.envs.registry import register

ANT_XML = "ant.xml"
"""Model file inside brax/envs/assets."""


class Ant(GoalEnv):
    """Brax ant; goal = torso xy; falls terminate."""

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
        self.state_dim = sys.q_size() + sys.qd_size()  # 15 + 14 = 29
        self.goal_indices = (0, 1)
        self.action_dim = sys.act_size()
        self.goal_reach_thresh = float(goal_reach_thresh)
        self.default_episode_length = int(default_episode_length)

    def sample_start_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(2,) torso start xy (before noise) and (2,) goal: origin and the radius circle."""
        angle = 2 * math.pi * jax.random.uniform(key)
        goal = self.goal_distance * jnp.array([jnp.cos(angle), jnp.sin(angle)])
        return jnp.zeros(2), goal

    def _observe(self, ps: Any, goal: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(31,) obs = q ++ qd ++ goal, and the per-step metrics."""
        obs = jnp.concatenate([ps.q, ps.qd, goal])
        return obs, {"distance": jnp.linalg.norm(ps.q[:2] - goal)}

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
        noise = jax.random.uniform(k_q, (sys.q_size(),), minval=-n, maxval=n)
        noise = noise.at[2:7].set(0.0)  # keep the drop height and a unit quaternion
        q = sys.init_q.at[:2].set(start) + noise
        qd = n * jax.random.normal(k_qd, (sys.qd_size(),))
        ps = self.sim.init(q, qd)
        obs, metrics = self._observe(ps, goal)
        return EnvState(
            physics=BraxPhysics(pipeline_state=ps, goal=goal),
            obs=obs,
            done=jnp.zeros((), jnp.float32),
            metrics=metrics,
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Apply the clipped torques for one control step; done = 1 on a fall."""
        physics: BraxPhysics = state.physics
        ps = self.sim.step(physics.pipeline_state, jnp.clip(action, -1.0, 1.0))
        obs, metrics = self._observe(ps, physics.goal)
        return state.replace(
            physics=BraxPhysics(pipeline_state=ps, goal=physics.goal),
            obs=obs,
            done=self.fallen(ps).astype(jnp.float32),
            metrics=metrics,
        )


register(
    "ant",
    Ant,
    description="Brax ant (spring) on open ground, goal on a radius-10 circle (radius 0.5).",
    cpu_friendly=False,
)
