"""MJCF generator for the MJX arm tasks: a 4-DoF arm with a two-finger gripper on a table.

Pure XML (no simulator import). World frame: z up, the table top is the plane z = 0, the
arm's base stands at the origin and faces +y when its yaw is 0. Lengths in metres.

Arm (every link a capsule, gravity-compensated like a real arm's controller):

- ``yaw`` (hinge about z) turns a 0.2 m base column;
- ``shoulder`` (hinge about -x, at height 0.2) carries a 0.55 m upper arm, 0 = straight up,
  positive leans forward (+y at yaw 0);
- ``elbow`` (hinge about -x) carries a 0.55 m forearm, angle relative to the upper arm;
- ``wrist`` (hinge about -x) carries the hand: a palm bar 0.075 m out and two finger
  capsules (radius 0.01, 0.06 long) centred 0.12 m out from the wrist, 0.06 m either side of
  the hand's axis when open. Hand pointing straight down <=> shoulder + elbow + wrist = pi.
- ``finger_l`` / ``finger_r`` (slides towards the hand's axis, 0 = open, 0.06 = closed at the
  axis); an equality constraint makes finger_r copy finger_l, so ONE position actuator on
  finger_l drives the pair.

Actuators: position servos (absolute joint targets) on the four arm joints and finger_l;
armature and damping keep them stable at the 0.005 s physics step.

Cube: 0.05 m (half-size 0.025), 0.1 kg, free joint, resting at z = 0.025.

Bins (binpick only): each bin is four static wall boxes (0.02 thick, 0.06 high) standing on
the table around a square of inner half-width ``bin_half``; the bin floor is the table.

Contacts are listed explicitly as <pair>s (every geom has contype = conaffinity = 0), so
MJX only tests these: cube-table (plane-box), each finger and the palm against the cube
(capsule-box) and the table (plane-capsule), and the cube against every bin wall (box-box).
The arm links and the bin walls do not touch the fingers (the hand passes through walls).
"""

from __future__ import annotations

import math

SHOULDER_HEIGHT = 0.2
"""Height of the shoulder joint above the table."""
LINK_LENGTH = 0.55
"""Upper arm and forearm length."""
FINGER_OUT = 0.12
"""Distance from the wrist joint to the finger centres along the hand's axis."""
FINGER_OPEN = 0.06
"""Finger centre's offset from the hand's axis when the gripper is open."""
FINGER_TRAVEL = 0.06
"""Slide range of each finger (0 = open, FINGER_TRAVEL = at the hand's axis)."""
CUBE_HALF = 0.025
"""Half the cube's edge; a cube resting on the table has its centre at this height."""
WALL_HALF_THICK = 0.01
"""Half thickness of a bin wall."""
WALL_HEIGHT = 0.06
"""Bin wall height (above the 0.05 cube, so a cube must be lifted over it)."""

ARM_JOINTS = ("yaw", "shoulder", "elbow", "wrist")
"""The four arm joints, base to hand (also the order of actions and state entries)."""
ARM_RANGES = ((-1.6, 1.6), (-0.5, 2.0), (0.0, 2.8), (-1.5, 2.0))
"""Target range (radians) of each arm joint's position servo: action -1 -> low, +1 -> high."""
_ARM_GAINS = ((200.0, 25.0), (300.0, 30.0), (150.0, 12.0), (50.0, 2.5))
"""(kp, damping) per arm joint."""


def _wall_geoms(name: str, cx: float, cy: float, half: float) -> list[str]:
    """Four wall boxes around the square of inner half-width ``half`` centred at (cx, cy)."""
    t, h = WALL_HALF_THICK, WALL_HEIGHT / 2
    off = half + t  # wall centre line
    span = half + 2 * t  # covers the corners
    walls = [
        (f"{name}_xlo", cx - off, cy, t, span),
        (f"{name}_xhi", cx + off, cy, t, span),
        (f"{name}_ylo", cx, cy - off, span, t),
        (f"{name}_yhi", cx, cy + off, span, t),
    ]
    return [
        f'<geom name="{n}" type="box" pos="{x:g} {y:g} {h:g}" size="{sx:g} {sy:g} {h:g}" '
        f'rgba="0.55 0.35 0.2 1"/>'
        for n, x, y, sx, sy in walls
    ]


def wall_names(bins: tuple[tuple[float, float], ...]) -> list[str]:
    """Names of the wall geoms of ``bins`` (in arm_xml's order)."""
    return [f"bin{i}_{side}" for i in range(len(bins)) for side in ("xlo", "xhi", "ylo", "yhi")]


def arm_xml(
    *,
    cube: bool,
    bins: tuple[tuple[float, float], ...] = (),
    bin_half: float = 0.12,
    timestep: float = 0.005,
) -> str:
    """The arm scene: with a cube if ``cube``, plus one bin centred at each (x, y) of ``bins``."""
    if bins and not cube:
        raise ValueError("arm_xml: bins need the cube")
    statics = [
        # The collision table is the plane z = 0; the box below it is only drawn.
        '<geom name="table" type="plane" size="1.5 1.5 0.05" rgba="0.82 0.78 0.7 1"/>',
        '<geom name="table_body" type="box" pos="0.1 0.55 -0.032" size="0.9 0.6 0.03" '
        'rgba="0.6 0.5 0.4 1"/>',
    ]
    for i, (x, y) in enumerate(bins):
        statics += _wall_geoms(f"bin{i}", x, y, bin_half)
    cube_body = ""
    if cube:
        cube_body = (
            f'<body name="cube" pos="0 0.6 {CUBE_HALF:g}"><freejoint name="cube"/>'
            f'<geom name="cube" type="box" size="{CUBE_HALF:g} {CUBE_HALF:g} {CUBE_HALF:g}" '
            'mass="0.1" rgba="0.2 0.4 0.9 1"/></body>'
        )
    grippers = ("finger_l", "finger_r", "palm")
    pairs = [f'<pair geom1="table" geom2="{g}"/>' for g in grippers]
    if cube:
        pairs.append('<pair geom1="table" geom2="cube" friction="0.5 0.5"/>')
        pairs += [
            f'<pair geom1="{g}" geom2="cube" friction="1.5 1.5" solref="0.01 1"/>' for g in grippers
        ]
        pairs += [f'<pair geom1="{w}" geom2="cube" friction="0.3 0.3"/>' for w in wall_names(bins)]
    actuators = [
        f'<position name="{j}" joint="{j}" kp="{kp:g}" ctrlrange="{lo:g} {hi:g}"/>'
        for j, (lo, hi), (kp, _) in zip(ARM_JOINTS, ARM_RANGES, _ARM_GAINS, strict=True)
    ]
    actuators.append(
        f'<position name="grip" joint="finger_l" kp="300" ctrlrange="0 {FINGER_TRAVEL:g}"/>'
    )
    yaw_d, sh_d, el_d, wr_d = (d for _, d in _ARM_GAINS)
    L, F = LINK_LENGTH, FINGER_OPEN
    finger = 'type="capsule" size="0.01" fromto="0 0 -0.03 0 0 0.03" mass="0.05"'
    return f"""<mujoco model="deepcrl_arm">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{timestep:g}" iterations="6" ls_iterations="8" integrator="Euler"
          cone="pyramidal"/>
  <default>
    <geom contype="0" conaffinity="0"/>
    <joint armature="0.05"/>
  </default>
  <worldbody>
    <light pos="0 0.5 2" dir="0 0 -1" directional="true" castshadow="false"/>
    {"".join(statics)}
    <body name="base" pos="0 0 0" gravcomp="1">
      <joint name="yaw" type="hinge" axis="0 0 1" damping="{yaw_d:g}"/>
      <geom type="cylinder" size="0.06 {SHOULDER_HEIGHT / 2:g}" pos="0 0 {SHOULDER_HEIGHT / 2:g}"
            mass="2" rgba="0.3 0.3 0.3 1"/>
      <body name="upper_arm" pos="0 0 {SHOULDER_HEIGHT:g}" gravcomp="1">
        <joint name="shoulder" type="hinge" axis="-1 0 0" damping="{sh_d:g}"/>
        <geom type="capsule" size="0.04" fromto="0 0 0 0 0 {L:g}" mass="1.0" rgba="0.9 0.5 0.1 1"/>
        <body name="forearm" pos="0 0 {L:g}" gravcomp="1">
          <joint name="elbow" type="hinge" axis="-1 0 0" damping="{el_d:g}"/>
          <geom type="capsule" size="0.035" fromto="0 0 0 0 0 {L:g}" mass="0.8"
                rgba="0.9 0.6 0.2 1"/>
          <body name="hand" pos="0 0 {L:g}" gravcomp="1">
            <joint name="wrist" type="hinge" axis="-1 0 0" damping="{wr_d:g}" armature="0.02"/>
            <geom type="capsule" size="0.025" fromto="0 0 0 0 0 0.06" mass="0.2"
                  rgba="0.3 0.3 0.3 1"/>
            <geom name="palm" type="capsule" size="0.015" mass="0.1" rgba="0.3 0.3 0.3 1"
                  fromto="-{F + 0.01:g} 0 0.075 {F + 0.01:g} 0 0.075"/>
            <body name="finger_l" pos="-{F:g} 0 {FINGER_OUT:g}" gravcomp="1">
              <joint name="finger_l" type="slide" axis="1 0 0" damping="5" armature="0.01"/>
              <geom name="finger_l" {finger} rgba="0.2 0.2 0.2 1"/>
              <site name="tip_l" pos="0 0 0" size="0.005"/>
            </body>
            <body name="finger_r" pos="{F:g} 0 {FINGER_OUT:g}" gravcomp="1">
              <joint name="finger_r" type="slide" axis="-1 0 0" damping="5" armature="0.01"/>
              <geom name="finger_r" {finger} rgba="0.2 0.2 0.2 1"/>
              <site name="tip_r" pos="0 0 0" size="0.005"/>
            </body>
          </body>
        </body>
      </body>
    </body>
    {cube_body}
  </worldbody>
  <equality>
    <joint joint1="finger_r" joint2="finger_l" polycoef="0 1 0 0 0"/>
  </equality>
  <contact>
    {"".join(pairs)}
  </contact>
  <actuator>
    {"".join(actuators)}
  </actuator>
</mujoco>
"""


def hand_down_pose(r: float, z: float) -> tuple[float, float, float]:
    """(shoulder, elbow, wrist) angles putting the finger centres at distance ``r`` from the
    base axis and height ``z``, hand pointing straight down (two-link inverse kinematics)."""
    # Wrist joint sits FINGER_OUT above the finger centres; solve the shoulder-wrist triangle.
    dr, dz = r, z + FINGER_OUT - SHOULDER_HEIGHT
    d = math.hypot(dr, dz)
    if d > 2 * LINK_LENGTH:
        raise ValueError(f"hand_down_pose: ({r}, {z}) is out of reach")
    elbow = math.acos(max(-1.0, min(1.0, (d * d - 2 * LINK_LENGTH**2) / (2 * LINK_LENGTH**2))))
    shoulder = math.atan2(dr, dz) - elbow / 2
    return shoulder, elbow, math.pi - shoulder - elbow
