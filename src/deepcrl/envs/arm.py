"""Robot-arm tasks on MuJoCo MJX: reach, push a cube, pick a cube from one bin into another.

Model: our own MJCF (arm_mjcf.py): a 4-DoF arm (base yaw, shoulder, elbow and wrist pitch)
with a two-finger parallel gripper on a table (the plane z = 0), the base at the origin
facing +y; a 0.05 m cube (free joint) for push/binpick and two open-top bins of four wall
boxes each for binpick. Physics: MJX, 0.005 s timestep x 10 substeps = control dt 0.05 s
(the public versions use 0.002 s x 25; the larger step keeps the same control dt at 2.5x
fewer physics steps, and the grasp, lift and push stay stable with the joint armature and
damping of the model; checked in tests/test_arm_envs.py).

Actions in [-1, 1], absolute joint targets of position servos, mapped linearly onto each
joint's range (arm_mjcf.ARM_RANGES): a0 yaw, a1 shoulder, a2 elbow, a3 wrist; a4 (push and
binpick only) the gripper, -1 open .. +1 closed. arm_reach has 4 actions and its gripper
stays open.

State layouts (obs = state ++ goal). "tip l/r" = the left/right finger centre; "EEF" = the
midpoint of the two finger centres.

- arm_reach (13): [0:4] arm joint angles (yaw, shoulder, elbow, wrist); [4:7] wrist joint
  xyz; [7:10] EEF xyz; [10:13] EEF velocity, averaged over the last control step (EEF
  displacement / 0.05 s; 0 after reset). Goal indices (7, 8, 9): EEF xyz.
- push and binpick (17): [0:3] cube xyz; [3:7] cube quaternion (w, x, y, z); [7:10] tip l
  xyz; [10:13] tip r xyz (their gap is the gripper opening, their midpoint the EEF);
  [13:17] arm joint angles. Goal indices (0, 1, 2): cube xyz.

Reset: arm joints at the home pose (hand pointing down, EEF at (0, 0.35, 0.3)) + U(-0.05,
0.05) rad, at rest, gripper open. The cube (axis-aligned, at rest on the table) and the goal
are drawn uniformly in squares (x, y) = centre + U(-spread, spread)^2:

| task | goal centre, spread | cube centre, spread | goal z | bins |
|---|---|---|---|---|
| arm_reach | EEF box (0, 0.5, 0.3) +- 0.2 in x, y, z | no cube | 0.1 .. 0.5 | no |
| arm_push_easy | (0.1, 0.6) +- 0.1 | (-0.1, 0.6) +- 0.1 | 0.025 | no |
| arm_push_hard | (0.25, 0.65) +- 0.25 | (-0.25, 0.65) +- 0.25 | 0.025 | no |
| arm_binpick_easy | (0.17, 0.6) +- 0.09 | (-0.17, 0.6) +- 0.09 | 0.025 | inner half-width 0.12 |
| arm_binpick_hard | (0.3, 0.6) +- 0.15 | (-0.3, 0.6) +- 0.15 | 0.025 | inner half-width 0.18 |

The cube's region is the goal's region mirrored about x = 0 (the public tasks start the
cube on a region next to the goal region). Goal z = 0.025 is the centre height of a cube
resting on the table (push) or on a bin's floor, which is the table (binpick). Binpick bins
are centred on the two regions, with 0.025 m margin around them for the cube.

Success: distance(achieved, goal) < 0.1 for every task. Never terminates (done only from the
time limit). Default episode length: reach 100, push and binpick 150 (JaxGCRL's
recommendation; scaling-crl recommends 50 for reach and push easy, 80 for the others).

Differences from the public implementations (ENVS.md): our own arm (4 joints on a capsule
chain, not a Panda model) and scene, so joint ranges, link lengths and positions differ;
the state has no gripper-force entry (scaling-crl's 17 entries, not JaxGCRL's 18) and a
different index layout; binpick easy uses scaling-crl's +-0.09 goal and cube spreads (JaxGCRL:
goal +-0.005, cube +-0.07); every episode draws a new cube and goal. The hand passes through
bin walls (only the cube collides with them) to keep MJX's contact count small.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from deepcrl.envs import arm_mjcf
from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.brax_common import MjxPhysics, MjxSim
from deepcrl.envs.registry import register

HOME_EEF = (0.0, 0.35, 0.3)
"""EEF position of the home pose (hand pointing down, yaw 0)."""
PHYSICS_TIMESTEP = 0.005
"""MJX timestep (s); N_FRAMES of them make the 0.05 s control step."""
N_FRAMES = 10
"""Physics steps per control step."""


class ArmEnv(GoalEnv):
    """Shared arm machinery: model, action -> servo targets, reset pose, fingertip readout."""

    def __init__(
        self,
        *,
        xml: str,
        gripper_action: bool,
        goal_reach_thresh: float,
        reset_noise: float,
        default_episode_length: int,
    ) -> None:
        """Compile ``xml``; ``gripper_action`` adds the 5th (gripper) action."""
        if goal_reach_thresh <= 0 or reset_noise < 0:
            raise ValueError(f"{type(self).__name__}: need goal_reach_thresh > 0, noise >= 0")
        self.sim = MjxSim(xml, N_FRAMES)
        m = self.sim.mj_model
        self._arm_qpos = np.array([m.jnt_qposadr[m.joint(j).id] for j in arm_mjcf.ARM_JOINTS])
        self._tips = np.array([m.site("tip_l").id, m.site("tip_r").id])
        self._wrist_body = m.body("hand").id
        # ctrl = low + (a + 1) / 2 * (high - low) per actuator, in model order (arm, grip).
        ranges = np.asarray(m.actuator_ctrlrange, np.float32)  # (nu, 2)
        self._ctrl_low, self._ctrl_span = ranges[:, 0], ranges[:, 1] - ranges[:, 0]
        shoulder, elbow, wrist = arm_mjcf.hand_down_pose(
            float(np.hypot(*HOME_EEF[:2])), HOME_EEF[2]
        )
        self._home = np.array([0.0, shoulder, elbow, wrist], np.float32)
        self.reset_noise = float(reset_noise)
        self.action_dim = 5 if gripper_action else 4
        self.goal_reach_thresh = float(goal_reach_thresh)
        self.default_episode_length = int(default_episode_length)

    def _ctrl(self, action: jax.Array) -> jax.Array:
        """(nu,) servo targets for ``action`` (action_dim,); no gripper action = open."""
        a = jnp.clip(action, -1.0, 1.0)
        if self.action_dim == 4:
            a = jnp.append(a, -1.0)
        return jnp.asarray(self._ctrl_low) + (a + 1.0) / 2.0 * jnp.asarray(self._ctrl_span)

    def _start(self, key: jax.Array, qpos: jax.Array) -> Any:
        """mjx.Data at rest: ``qpos`` with the arm at home + noise, servos holding it, open."""
        n = self.reset_noise
        arm = jnp.asarray(self._home) + jax.random.uniform(key, (4,), minval=-n, maxval=n)
        qpos = qpos.at[self._arm_qpos].set(arm)
        ctrl = jnp.append(arm, 0.0)  # servo targets: arm where it is, gripper open
        return self.sim.init(qpos, jnp.zeros(self.sim.mj_model.nv), ctrl)

    def tips(self, data: Any) -> jax.Array:
        """(2, 3) left and right finger centres."""
        return data.site_xpos[self._tips]

    def arm_angles(self, data: Any) -> jax.Array:
        """(4,) yaw, shoulder, elbow, wrist angles."""
        return data.qpos[self._arm_qpos]


class ArmReach(ArmEnv):
    """Move the end effector (finger midpoint) to a point in a box above the table."""

    def __init__(
        self,
        *,
        goal_centre: tuple[float, float, float] = (0.0, 0.5, 0.3),
        goal_spread: float = 0.2,
        goal_reach_thresh: float = 0.1,
        reset_noise: float = 0.05,
        default_episode_length: int = 100,
    ) -> None:
        """Goals uniform in the box ``goal_centre`` +- ``goal_spread`` (x, y and z)."""
        if goal_spread < 0:
            raise ValueError("ArmReach: need goal_spread >= 0")
        super().__init__(
            xml=arm_mjcf.arm_xml(cube=False, timestep=PHYSICS_TIMESTEP),
            gripper_action=False,
            goal_reach_thresh=goal_reach_thresh,
            reset_noise=reset_noise,
            default_episode_length=default_episode_length,
        )
        self.goal_centre = np.asarray(goal_centre, np.float32)
        self.goal_spread = float(goal_spread)
        self.state_dim = 13
        self.goal_indices = (7, 8, 9)

    def _observe(self, data: Any, eef_vel: jax.Array, goal: jax.Array) -> jax.Array:
        """(16,) obs: angles, wrist, EEF, EEF velocity, goal."""
        eef = self.tips(data).mean(0)
        wrist = data.xpos[self._wrist_body]
        return jnp.concatenate([self.arm_angles(data), wrist, eef, eef_vel, goal])

    def reset(self, key: jax.Array) -> EnvState:
        """Arm at home (+ noise), goal uniform in the box."""
        k_arm, k_goal = jax.random.split(key)
        s = self.goal_spread
        goal = jnp.asarray(self.goal_centre) + jax.random.uniform(k_goal, (3,), minval=-s, maxval=s)
        data = self._start(k_arm, jnp.zeros(self.sim.mj_model.nq))
        obs = self._observe(data, jnp.zeros(3), goal)
        return EnvState.first(
            MjxPhysics(data=data, goal=goal), obs, {"distance": self.distance_to_goal(obs)}
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Set the servo targets and advance one control step."""
        physics: MjxPhysics = state.physics
        data = self.sim.step(physics.data, self._ctrl(action))
        prev_eef = state.obs[7:10]
        eef_vel = (self.tips(data).mean(0) - prev_eef) / self.sim.dt
        obs = self._observe(data, eef_vel, physics.goal)
        return state.advance(
            MjxPhysics(data=data, goal=physics.goal), obs, {"distance": self.distance_to_goal(obs)}
        )


class ArmCube(ArmEnv):
    """Move a cube to a goal on the table: push it, or pick it from one bin into another."""

    def __init__(
        self,
        *,
        goal_centre: tuple[float, float],
        spread: float,
        bins: bool,
        goal_reach_thresh: float = 0.1,
        reset_noise: float = 0.05,
        default_episode_length: int = 150,
    ) -> None:
        """Goal in ``goal_centre`` +- ``spread``, cube in its mirror image about x = 0 +-
        ``spread``; ``bins`` puts a bin (walls only, on the table) around each region."""
        if spread < 0:
            raise ValueError("ArmCube: need spread >= 0")
        gx, gy = goal_centre
        self.goal_centre = np.array([gx, gy], np.float32)
        self.cube_centre = np.array([-gx, gy], np.float32)
        self.spread = float(spread)
        # Bin inner half-width: the region plus the cube's half-size plus 5 mm of play.
        bin_half = self.spread + arm_mjcf.CUBE_HALF + 0.005
        centres = ((-gx, gy), (gx, gy)) if bins else ()
        if bins and abs(gx) < bin_half + 2 * arm_mjcf.WALL_HALF_THICK:
            raise ValueError("ArmCube: the two bins overlap; move goal_centre away from x = 0")
        super().__init__(
            xml=arm_mjcf.arm_xml(
                cube=True, bins=centres, bin_half=bin_half, timestep=PHYSICS_TIMESTEP
            ),
            gripper_action=True,
            goal_reach_thresh=goal_reach_thresh,
            reset_noise=reset_noise,
            default_episode_length=default_episode_length,
        )
        m = self.sim.mj_model
        self._cube_qpos = int(m.jnt_qposadr[m.joint("cube").id])
        self.state_dim = 17
        self.goal_indices = (0, 1, 2)

    def _observe(self, data: Any, goal: jax.Array) -> jax.Array:
        """(20,) obs: cube pose, fingertips, arm angles, goal."""
        cube = data.qpos[self._cube_qpos : self._cube_qpos + 7]  # xyz, quaternion
        return jnp.concatenate([cube, self.tips(data).ravel(), self.arm_angles(data), goal])

    def sample_cube_goal(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Cube xy (2,) and goal xyz (3,), each uniform in its square."""
        k_cube, k_goal = jax.random.split(key)
        s = self.spread
        cube = jnp.asarray(self.cube_centre) + jax.random.uniform(k_cube, (2,), minval=-s, maxval=s)
        goal_xy = jnp.asarray(self.goal_centre) + jax.random.uniform(
            k_goal, (2,), minval=-s, maxval=s
        )
        return cube, jnp.append(goal_xy, arm_mjcf.CUBE_HALF)

    def reset(self, key: jax.Array) -> EnvState:
        """Arm at home (+ noise), cube at rest in its region, goal in the goal region."""
        k_arm, k_task = jax.random.split(key)
        cube_xy, goal = self.sample_cube_goal(k_task)
        c = self._cube_qpos
        qpos = jnp.zeros(self.sim.mj_model.nq)
        qpos = qpos.at[c : c + 7].set(
            jnp.concatenate([cube_xy, jnp.array([arm_mjcf.CUBE_HALF, 1.0, 0.0, 0.0, 0.0])])
        )
        data = self._start(k_arm, qpos)
        obs = self._observe(data, goal)
        return EnvState.first(
            MjxPhysics(data=data, goal=goal), obs, {"distance": self.distance_to_goal(obs)}
        )

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Set the servo targets (arm and gripper) and advance one control step."""
        physics: MjxPhysics = state.physics
        data = self.sim.step(physics.data, self._ctrl(action))
        obs = self._observe(data, physics.goal)
        return state.advance(
            MjxPhysics(data=data, goal=physics.goal), obs, {"distance": self.distance_to_goal(obs)}
        )


register(
    "arm_reach",
    functools.partial(ArmReach),
    description="MJX 4-DoF arm, end effector to a point in a 0.4 m box (radius 0.1).",
    cpu_friendly=False,
)
register(
    "arm_push_easy",
    functools.partial(ArmCube, goal_centre=(0.1, 0.6), spread=0.1, bins=False),
    description="MJX 4-DoF arm + gripper pushes a cube to a goal region +-0.1 (radius 0.1).",
    cpu_friendly=False,
)
register(
    "arm_push_hard",
    functools.partial(ArmCube, goal_centre=(0.25, 0.65), spread=0.25, bins=False),
    description="MJX 4-DoF arm + gripper pushes a cube across +-0.25 regions (radius 0.1).",
    cpu_friendly=False,
)
register(
    "arm_binpick_easy",
    functools.partial(ArmCube, goal_centre=(0.17, 0.6), spread=0.09, bins=True),
    description="MJX 4-DoF arm + gripper lifts a cube from one bin into another (+-0.09).",
    cpu_friendly=False,
)
register(
    "arm_binpick_hard",
    functools.partial(ArmCube, goal_centre=(0.3, 0.6), spread=0.15, bins=True),
    description="MJX 4-DoF arm + gripper lifts a cube between two wide bins (+-0.15).",
    cpu_friendly=False,
)
