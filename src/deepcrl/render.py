"""Videos of a deterministic policy reaching goals: jitted rollout -> RGB frames -> GIF / MP4.

Three layers, each usable on its own:

- ``rollout`` / ``rollout_episodes``: one jitted ``lax.scan`` over ``episode_length`` steps in
  ``num_episodes`` envs (the evaluator's episode: time limit, no auto-reset), returning the
  observations (num_episodes, episode_length + 1, obs_dim) with the reset obs first, and the
  simulator's joint positions when the task's physics state offers them (``render_positions``).
- ``frames_for(env, rollout)``: RGB frames (H, W, 3) uint8, one per observation,
  episodes one after another. It dispatches on the env type through a registry
  (``register_renderer``); each renderer gets the whole ``Rollout``.
- ``write_video``: streams those frames to a GIF (Pillow) or an MP4 (matplotlib's
  FFMpegWriter, when ffmpeg is installed).

The point-mass maze is drawn as a top view with matplotlib's Agg canvas (no display): the
maze and the goal are rendered once per goal, and each frame restores that background and
redraws only the trajectory, the agent and the caption (blitting).

The Brax and MJX tasks (reacher, ant, humanoid, their mazes, arms) are drawn off-screen by
MuJoCo from their simulator's ``MjModel`` (``env.sim.mj_model``): each frame sets ``qpos`` to
the recorded joint positions, adds the goal as marker spheres and overlays a caption. The GL
backend defaults to EGL on Linux (``MUJOCO_GL=egl``, set when this module is imported or a
Brax task is built, before MuJoCo is imported); ``MUJOCO_GL=osmesa`` is the other headless
choice.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle
from PIL import Image, ImageDraw

from deepcrl.envs.ant import Ant
from deepcrl.envs.arm import ArmEnv
from deepcrl.envs.base import GoalEnv
from deepcrl.envs.brax_common import use_headless_gl
from deepcrl.envs.humanoid import Humanoid
from deepcrl.envs.maze_task import MazeTask
from deepcrl.envs.point_mass import PointMassMaze
from deepcrl.envs.pusher import Pusher
from deepcrl.envs.reacher import Reacher
from deepcrl.envs.wrappers import Wrapper, wrap_for_eval
from deepcrl.errors import ConfigError
from deepcrl.evaluate import Params, PolicyFn

# MuJoCo picks its OpenGL backend once, when it is first imported (by brax, when a Brax
# task is built): headless EGL on Linux unless the user chose another.
use_headless_gl()

FREE_COLOUR = "#f4f1ea"
"""Floor of the maze."""
WALL_COLOUR = "#3b3b3b"
"""Wall blocks."""
GOAL_COLOUR = "#2ca02c"
"""Goal marker and success circle."""
AGENT_COLOUR = "#1f5fb4"
"""The agent's square."""
TRAIL_COLOUR = "#8fb3e0"
"""The trajectory so far."""
TERMINATED_COLOUR = "#d62728"
"""The agent's square once its episode terminated (e.g. a fall)."""

VIDEO_SUFFIXES = (".gif", ".mp4")
"""File types ``write_video`` can write."""

_DPI = 64  # a power of two, so figure inches * dpi is an exact pixel count


class Rollout(NamedTuple):
    """Deterministic episodes, reset observation first."""

    observations: np.ndarray
    """(num_episodes, episode_length + 1, obs_dim) float32."""
    terminated: np.ndarray
    """(num_episodes, episode_length + 1) bool: True from the step the episode terminated
    (a fall, not the time limit) onwards; all False for tasks that never terminate."""
    positions: np.ndarray | None = None
    """(num_episodes, episode_length + 1, nq) float32 simulator joint positions (MuJoCo
    qpos for the Brax tasks), or None when the task's physics state does not offer them."""


@runtime_checkable
class HasRenderPositions(Protocol):
    """A physics state that can report the simulator's full pose (the renderer's hook)."""

    def render_positions(self) -> jax.Array:
        """(..., nq) joint positions."""
        ...


def _positions(state: Any) -> jax.Array | None:
    """(N, nq) joint positions of a batched env state, or None if its physics has none."""
    physics = state.physics
    return physics.render_positions() if isinstance(physics, HasRenderPositions) else None


def rollout_episodes(
    env: GoalEnv,
    policy: PolicyFn,
    params: Params,
    key: jax.Array,
    episode_length: int,
    num_episodes: int,
) -> Rollout:
    """Roll ``num_episodes`` deterministic episodes of ``episode_length`` steps (one jit)."""
    for name, value in (("episode_length", episode_length), ("num_episodes", num_episodes)):
        if value < 1:
            raise ConfigError(f"render: {name} must be >= 1, got {value}")
    eval_env = wrap_for_eval(env, episode_length, num_episodes)

    def run(params: Params, key: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array | None]:
        first = eval_env.reset(key)

        def step(state: Any, _: None) -> tuple[Any, tuple[jax.Array, jax.Array, Any]]:
            nxt = eval_env.step(state, policy(params, state.obs))
            truncation = nxt.info.get("truncation", jnp.zeros_like(nxt.done))
            ended = (nxt.done > 0) & (truncation == 0)  # (N,) terminated at this step
            return nxt, (nxt.obs, ended, _positions(nxt))

        # obs: (T, N, obs_dim); ended: (T, N); qs: (T, N, nq) or None
        _, (obs, ended, qs) = jax.lax.scan(step, first, None, length=episode_length)
        observations = jnp.concatenate([first.obs[None], obs], axis=0)  # (T + 1, N, obs_dim)
        # terminated[t] = some step in 1..t terminated; False at the reset obs: (T + 1, N)
        so_far = jnp.cumsum(ended.astype(jnp.int32), axis=0) > 0
        terminated = jnp.concatenate([jnp.zeros((1, num_episodes), bool), so_far], axis=0)
        first_q = _positions(first)
        positions = None
        if qs is not None and first_q is not None:
            positions = jnp.concatenate([first_q[None], qs], axis=0).swapaxes(0, 1)
        return observations.swapaxes(0, 1), terminated.swapaxes(0, 1), positions

    observations, terminated, positions = jax.jit(run)(params, key)
    return Rollout(
        np.asarray(observations),
        np.asarray(terminated),
        None if positions is None else np.asarray(positions, np.float32),
    )


def rollout(
    env: GoalEnv,
    policy: PolicyFn,
    params: Params,
    key: jax.Array,
    episode_length: int,
    num_episodes: int,
) -> np.ndarray:
    """Observations (num_episodes, episode_length + 1, obs_dim) of deterministic episodes."""
    return rollout_episodes(env, policy, params, key, episode_length, num_episodes).observations


FrameRenderer = Callable[[Any, Rollout], Iterator[np.ndarray]]
"""(unwrapped env, validated Rollout: observations (E, T + 1, obs_dim), terminated
(E, T + 1) bool, positions (E, T + 1, nq) or None) -> RGB frames (H, W, 3) uint8,
E * (T + 1) of them, all the same size, consecutive ones distinct (GIF encoders merge
identical frames)."""

_RENDERERS: dict[type, FrameRenderer] = {}


def register_renderer(env_type: type, renderer: FrameRenderer) -> None:
    """Make ``frames_for`` draw envs of ``env_type`` (and its subclasses) with ``renderer``."""
    _RENDERERS[env_type] = renderer


def _unwrapped(env: GoalEnv) -> GoalEnv:
    """The innermost task under any wrappers."""
    return env.unwrapped if isinstance(env, Wrapper) else env


def _renderer(env: GoalEnv) -> FrameRenderer:
    """The renderer registered for the env's type or its nearest base class."""
    for cls in type(env).__mro__:
        if cls in _RENDERERS:
            return _RENDERERS[cls]
    supported = ", ".join(sorted(cls.__name__ for cls in _RENDERERS))
    raise ConfigError(f"render: cannot draw {type(env).__name__} envs yet (supported: {supported})")


def _check_rollout(
    env: GoalEnv, episodes: Rollout | np.ndarray, terminated: np.ndarray | None
) -> Rollout:
    """A validated Rollout from a Rollout or bare (E, T + 1, obs_dim) observations.

    ``terminated`` (E, T + 1), if given, replaces the Rollout's flags; missing flags are all
    False.
    """
    positions = None
    if isinstance(episodes, Rollout):
        observations, positions = episodes.observations, episodes.positions
        terminated = episodes.terminated if terminated is None else terminated
    else:
        observations = episodes
    observations = np.asarray(observations)
    if observations.ndim != 3 or observations.shape[-1] != env.obs_dim or 0 in observations.shape:
        raise ConfigError(
            f"render: observations must be (num_episodes, steps, {env.obs_dim}), "
            f"got {observations.shape}"
        )
    steps = observations.shape[:2]
    if terminated is None:
        terminated = np.zeros(steps, bool)
    terminated = np.asarray(terminated, bool)
    if terminated.shape != steps:
        raise ConfigError(f"render: terminated must be {steps}, got {terminated.shape}")
    if positions is not None:
        positions = np.asarray(positions)
        if positions.ndim != 3 or positions.shape[:2] != steps:
            raise ConfigError(f"render: positions must be (*{steps}, nq), got {positions.shape}")
    return Rollout(observations, terminated, positions)


def frames_for(
    env: GoalEnv, episodes: Rollout | np.ndarray, terminated: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """RGB frames (H, W, 3) uint8 of a Rollout (or bare (E, T + 1, obs_dim) observations,
    for tasks drawn from observations alone), episode after episode."""
    base = _unwrapped(env)
    renderer = _renderer(base)  # raises now, not at the first frame
    return renderer(base, _check_rollout(base, episodes, terminated))


class PointMassView:
    """Top view of a point-mass maze on an Agg canvas; x to the right, y up."""

    def __init__(self, env: PointMassMaze, max_pixels: int = 384) -> None:
        """Draw the static maze once; ``max_pixels`` bounds the maze's longer side."""
        self.env = env
        rows, cols = env.layout.shape
        cell = env.cell_size
        # Grid row i -> x = i * cell, column j -> y = j * cell, so x spans rows, y columns.
        ppc = max(8, (max_pixels // max(rows, cols)) // 2 * 2)  # even pixels per cell
        band = 24  # caption strip above the maze, in pixels
        self.width, self.height = rows * ppc, cols * ppc + band  # both even
        self.figure = Figure(figsize=(self.width / _DPI, self.height / _DPI), dpi=_DPI)
        self.figure.set_facecolor("white")
        self.canvas = FigureCanvasAgg(self.figure)
        ax = self.figure.add_axes((0.0, 0.0, 1.0, cols * ppc / self.height))
        ax.set_xlim(-cell / 2, (rows - 0.5) * cell)
        ax.set_ylim(-cell / 2, (cols - 0.5) * cell)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_facecolor(FREE_COLOUR)
        self.ax = ax

        # Walls: (n, 4) x_min, y_min, x_max, y_max -> (n, 4 corners, 2) polygons.
        rects = env.wall_rectangles()
        x0, y0, x1, y1 = rects.T
        corners = np.stack([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]).transpose(2, 0, 1)
        ax.add_collection(
            PolyCollection(
                list(corners), facecolors=WALL_COLOUR, edgecolors="none", antialiased=False
            )
        )
        # Goal: success circle plus a star; drawn into the background (changes per episode).
        self._goal_circle = Circle(
            (0.0, 0.0),
            env.goal_reach_thresh,
            facecolor=GOAL_COLOUR,
            alpha=0.25,
            edgecolor="none",
            zorder=2,
        )
        self._goal_ring = Circle(
            (0.0, 0.0), env.goal_reach_thresh, fill=False, edgecolor=GOAL_COLOUR, lw=1.0, zorder=2
        )
        ax.add_patch(self._goal_circle)
        ax.add_patch(self._goal_ring)
        star_points = 0.4 * ppc * 72 / _DPI  # marker size in points for 0.4 cell
        (self._goal_marker,) = ax.plot(
            [0.0], [0.0], marker="*", markersize=star_points, color=GOAL_COLOUR, zorder=3
        )
        self._goal_xy: np.ndarray | None = None

        # Per-frame artists (animated: skipped by canvas.draw, blitted by draw_artist).
        (self._trail,) = ax.plot([], [], color=TRAIL_COLOUR, lw=2.0, zorder=4, animated=True)
        r = env.radius
        self._agent = Rectangle(
            (0.0, 0.0), 2 * r, 2 * r, facecolor=AGENT_COLOUR, edgecolor="none", zorder=5
        )
        self._agent.set_animated(True)
        ax.add_patch(self._agent)
        self._caption = self.figure.text(
            0.01,
            1 - (band / 2) / self.height,
            "",
            va="center",
            ha="left",
            fontsize=10,
            family="monospace",
            animated=True,
        )
        self._background: Any = None

    def to_pixel(self, xy: np.ndarray) -> tuple[int, int]:
        """(row, col) of the frame pixel that contains the point ``xy`` (x, y)."""
        dx, dy = self.ax.transData.transform(np.asarray(xy, np.float64).reshape(1, 2))[0]
        return math.floor(self.height - float(dy)), math.floor(float(dx))

    def _set_goal(self, goal: np.ndarray) -> None:
        """Move the goal artists and re-render the static background around them."""
        gx, gy = float(goal[0]), float(goal[1])
        self._goal_circle.center = (gx, gy)
        self._goal_ring.center = (gx, gy)
        self._goal_marker.set_data([gx], [gy])
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self._goal_xy = np.array(goal, copy=True)

    def frame(
        self, goal: np.ndarray, trail: np.ndarray, caption: str, terminated: bool = False
    ) -> np.ndarray:
        """(H, W, 3) uint8 frame: goal (2,), trajectory ``trail`` (t + 1, 2) ending at the agent."""
        if self._goal_xy is None or not np.array_equal(goal, self._goal_xy):
            self._set_goal(goal)
        self.canvas.restore_region(self._background)
        self._trail.set_data(trail[:, 0], trail[:, 1])
        r = self.env.radius
        self._agent.set_xy((float(trail[-1, 0]) - r, float(trail[-1, 1]) - r))
        self._agent.set_facecolor(TERMINATED_COLOUR if terminated else AGENT_COLOUR)
        self._caption.set_text(caption)
        self.ax.draw_artist(self._trail)
        self.ax.draw_artist(self._agent)
        self.figure.draw_artist(self._caption)
        rgba = np.asarray(self.canvas.buffer_rgba())  # (H, W, 4), a view of the canvas
        return rgba[..., :3].copy()

    def frames(self, observations: np.ndarray, terminated: np.ndarray) -> Iterator[np.ndarray]:
        """One frame per observation (E, T + 1, obs_dim), episodes one after another."""
        env = self.env
        num_episodes, steps, _ = observations.shape
        pos_idx = list(env.goal_indices)
        name = env.layout.name or type(env).__name__
        for e in range(num_episodes):
            pos = observations[e][:, pos_idx]  # (T + 1, 2) agent positions
            goals = observations[e][:, env.state_dim :]  # (T + 1, 2) commanded goals
            ended = np.flatnonzero(terminated[e])
            last = int(ended[0]) if ended.size else steps  # first terminated step, if any
            reached = False
            for t in range(steps):
                shown = min(t, last)  # after a termination the agent stays where it ended
                dist = float(np.linalg.norm(pos[shown] - goals[shown]))
                reached = reached or dist < env.goal_reach_thresh
                caption = (
                    f"{name}  ep {e + 1}/{num_episodes}  step {t}/{steps - 1}  d={dist:.2f}"
                    + ("  ended" if t >= last else "  reached" if reached else "")
                )
                yield self.frame(goals[shown], pos[: shown + 1], caption, terminated=t >= last)


def _point_mass_frames(env: PointMassMaze, episodes: Rollout) -> Iterator[np.ndarray]:
    """Frames of a point-mass maze (the FrameRenderer registered for PointMassMaze)."""
    return PointMassView(env).frames(episodes.observations, episodes.terminated)


register_renderer(PointMassMaze, _point_mass_frames)


def _mujoco() -> Any:
    """The mujoco module, imported after MUJOCO_GL is set (see the top of this module)."""
    try:
        import mujoco
    except ImportError as e:
        raise ConfigError(
            f"render: the Brax tasks are drawn with MuJoCo, which failed to import ({e}): "
            "pip install 'deepcrl[brax]'"
        ) from e
    return mujoco


def _gl_renderer(mujoco: Any, model: Any, height: int, width: int) -> Any:
    """An off-screen ``mujoco.Renderer``; a one-line ConfigError when no GL context exists."""
    try:
        return mujoco.Renderer(model, height, width)
    except Exception as e:  # GL failures come as many types (FatalError, OSError, ...)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        backend = os.environ.get("MUJOCO_GL", "")
        raise ConfigError(
            f"render: cannot create an off-screen OpenGL context for MuJoCo ({first}; "
            f"MUJOCO_GL is {backend!r}, read when MuJoCo was first imported): "
            "set MUJOCO_GL=egl or MUJOCO_GL=osmesa before starting Python"
        ) from e


def _positions_of(env: GoalEnv, episodes: Rollout, nq: int | None = None) -> np.ndarray:
    """The Rollout's (E, T + 1, nq) positions; a ConfigError if missing or mis-sized."""
    positions = episodes.positions
    if positions is None:
        raise ConfigError(
            f"render: drawing {type(env).__name__} needs the simulator positions of the "
            "Rollout from rollout_episodes, not bare observations"
        )
    if nq is not None and positions.shape[-1] != nq:
        raise ConfigError(
            f"render: positions must have {nq} entries (the model's qpos), "
            f"got {positions.shape[-1]}"
        )
    return positions


class MujocoView:
    """Off-screen MuJoCo frames of a Brax or MJX task from joint positions.

    The model is the task simulator's ``MjModel``; each frame sets ``qpos``, runs
    ``mj_forward`` and renders from a free camera: fixed over the reacher's arena, the arm's
    table and a whole maze (angled from above, so the walls show), following the robot and
    its goal on open ground. The goal is drawn as two extra spheres (the success
    radius, translucent, and an opaque core) and a caption names the episode and step.
    """

    def __init__(self, env: GoalEnv, width: int = 480, height: int = 380) -> None:
        """Build the renderer for ``env`` (its ``sim`` must offer ``mj_model``); frames
        are ``height`` x ``width`` pixels, a caption strip above the scene."""
        mujoco = _mujoco()
        model = getattr(getattr(env, "sim", None), "mj_model", None)
        if model is None:
            raise ConfigError(
                f"render: {type(env).__name__} has no MuJoCo model (env.sim.mj_model)"
            )
        model = copy.copy(model)  # the offscreen buffer size below is ours to change
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
        self.mujoco = mujoco
        self.env = env
        self.model = model
        self.data = mujoco.MjData(model)
        self.width, self.height = width, height
        self._band = 20  # caption strip above the scene, in pixels
        self.renderer = _gl_renderer(mujoco, model, height - self._band, width)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self._goal_rgba = np.append(to_rgb(GOAL_COLOUR), 1.0).astype(np.float32)
        self._region_rgba = np.append(to_rgb(GOAL_COLOUR), 0.3).astype(np.float32)
        if isinstance(env, MazeTask):  # the whole maze, angled from above
            rows, cols = env.layout.shape
            cell = env.cell_size
            self._fixed: tuple[np.ndarray, float, float, float] | None = (
                np.array([(rows - 1) * cell / 2, (cols - 1) * cell / 2, 0.0]),
                1.3 * max(rows, cols) * cell,
                -70.0,
                90.0,
            )
        elif isinstance(env, Reacher):  # the arena from above, slightly tilted
            self._fixed = (np.zeros(3), 0.75, -70.0, 90.0)
        elif isinstance(env, ArmEnv):  # the table from behind the arm's base, angled down
            self._fixed = (np.array([0.0, 0.55, 0.1]), 1.7, -35.0, 70.0)
        elif isinstance(env, Pusher):  # arm, object and goal boxes from above the table
            self._fixed = (np.array([0.35, -0.25, -0.3]), 2.2, -60.0, 90.0)
        else:  # open ground: follow the robot and keep its goal in view
            self._fixed = None

    def close(self) -> None:
        """Free the GL context."""
        self.renderer.close()

    def _set_camera(self, torso: np.ndarray, goal: np.ndarray) -> None:
        """Fixed view, or one centred between the agent and the goal that shows both."""
        cam = self.camera
        if self._fixed is not None:
            lookat, distance, elevation, azimuth = self._fixed
        else:
            middle = (torso[:2] + goal[:2]) / 2
            lookat = np.array([middle[0], middle[1], 0.0])
            distance = 5.0 + 1.4 * float(np.linalg.norm(torso[:2] - goal[:2]))
            elevation, azimuth = -65.0, 90.0
        cam.lookat[:] = lookat
        cam.distance, cam.elevation, cam.azimuth = distance, elevation, azimuth

    def _add_sphere(self, pos: np.ndarray, radius: float, rgba: np.ndarray) -> None:
        """An extra sphere in the current scene (skipped if the scene is full)."""
        scene = self.renderer.scene
        if scene.ngeom >= scene.maxgeom:
            return
        self.mujoco.mjv_initGeom(
            scene.geoms[scene.ngeom],
            self.mujoco.mjtGeom.mjGEOM_SPHERE,
            np.array([radius, 0.0, 0.0]),
            pos.astype(np.float64),
            np.eye(3).ravel(),
            rgba,
        )
        scene.ngeom += 1

    def frame(self, qpos: np.ndarray, goal: np.ndarray, caption: str, ended: bool) -> np.ndarray:
        """(H, W, 3) uint8 frame of the pose ``qpos`` (nq,) with ``goal`` (2 or 3,) marked."""
        mujoco = self.mujoco
        self.data.qpos[:] = qpos
        mujoco.mj_forward(self.model, self.data)
        goal_xyz = np.zeros(3)
        goal_xyz[: min(3, goal.shape[0])] = goal[:3]
        self._set_camera(np.asarray(self.data.qpos[:3]), goal_xyz)
        self.renderer.update_scene(self.data, camera=self.camera)
        radius = self.env.goal_reach_thresh
        self._add_sphere(goal_xyz, radius, self._region_rgba)
        self._add_sphere(goal_xyz, 0.3 * radius, self._goal_rgba)
        image = Image.new("RGB", (self.width, self.height), "white")
        image.paste(Image.fromarray(self.renderer.render()), (0, self._band))
        ImageDraw.Draw(image).text((4, 4), caption, fill=TERMINATED_COLOUR if ended else "#000000")
        return np.asarray(image)

    def frames(self, episodes: Rollout) -> Iterator[np.ndarray]:
        """One frame per recorded pose, episodes one after another."""
        env = self.env
        positions = _positions_of(self.env, episodes, self.model.nq)
        observations = episodes.observations
        num_episodes, steps, _ = observations.shape
        name = getattr(getattr(env, "layout", None), "name", None) or type(env).__name__
        achieved_idx = list(env.goal_indices)
        for e in range(num_episodes):
            ended_at = np.flatnonzero(episodes.terminated[e])
            last = int(ended_at[0]) if ended_at.size else steps
            reached = False
            for t in range(steps):
                shown = min(t, last)  # after a termination (a fall) the pose stays frozen
                obs = observations[e, shown]
                goal = obs[env.state_dim :]
                dist = float(np.linalg.norm(obs[achieved_idx] - goal))
                reached = reached or dist < env.goal_reach_thresh
                caption = (
                    f"{name}  ep {e + 1}/{num_episodes}  step {t}/{steps - 1}  d={dist:.2f}"
                    + ("  ended" if t >= last else "  reached" if reached else "")
                )
                yield self.frame(positions[e, shown], goal, caption, ended=t >= last)


def _mujoco_frames(env: GoalEnv, episodes: Rollout) -> Iterator[np.ndarray]:
    """Frames of a Brax or MJX task drawn by MuJoCo (the FrameRenderer registered for them)."""
    _positions_of(env, episodes)  # fail before making a GL context
    view = MujocoView(env)  # fails here, before any frame is written
    try:
        _positions_of(env, episodes, view.model.nq)
    except ConfigError:
        view.close()
        raise

    def frames() -> Iterator[np.ndarray]:
        try:
            yield from view.frames(episodes)
        finally:
            view.close()

    return frames()


register_renderer(Reacher, _mujoco_frames)
register_renderer(Pusher, _mujoco_frames)
register_renderer(Ant, _mujoco_frames)  # AntMaze too
register_renderer(Humanoid, _mujoco_frames)  # HumanoidMaze too
register_renderer(ArmEnv, _mujoco_frames)  # reach, push, binpick


def _write_gif(frames: Iterator[np.ndarray], path: Path, fps: int) -> None:
    """Stream RGB frames into an animated GIF with Pillow (each frame held as 8-bit palette)."""
    # Fast octree quantisation per frame (several times faster than Pillow's default
    # median cut for these flat drawings; max error a few levels per channel).
    images = (
        Image.fromarray(frame).quantize(
            colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        for frame in frames
    )
    first = next(images)
    # GIF delays are whole centiseconds; Pillow takes milliseconds.
    delay_ms = 10 * max(1, round(100 / fps))
    first.save(path, format="GIF", save_all=True, append_images=images, duration=delay_ms, loop=0)


def _write_mp4(frames: Iterator[np.ndarray], path: Path, fps: int) -> None:
    """Pipe RGB frames to ffmpeg through matplotlib's FFMpegWriter (H.264 MP4)."""
    from matplotlib.animation import FFMpegWriter

    first = next(frames)
    height, width, _ = first.shape
    fig = Figure(figsize=(width / _DPI, height / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    image = ax.imshow(first, interpolation="nearest", aspect="auto")
    writer = FFMpegWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=_DPI):
        writer.grab_frame()
        for frame in frames:
            image.set_data(frame)
            writer.grab_frame()


def write_video(
    env: GoalEnv,
    episodes: Rollout | np.ndarray,
    path: Path | str,
    fps: int = 20,
    terminated: np.ndarray | None = None,
) -> int:
    """Write one frame per observation of a Rollout (or of bare (E, T + 1, obs_dim)
    observations) to a .gif or .mp4; returns the number of frames."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ConfigError(
            f"render: cannot write {path.name!r}: use a {' or '.join(VIDEO_SUFFIXES)} file"
        )
    if fps < 1:
        raise ConfigError(f"render: fps must be >= 1, got {fps}")
    if suffix == ".mp4":
        from matplotlib.animation import FFMpegWriter

        if not FFMpegWriter.isAvailable():
            raise ConfigError(
                f"render: writing {path.name} needs ffmpeg, which is not installed: "
                "install it or write a .gif instead"
            )
    frames = frames_for(env, episodes, terminated)  # validates env and shapes
    count = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal count
        for frame in frames:
            count += 1
            yield frame

    path.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a failure never leaves a half-written video.
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        (_write_mp4 if suffix == ".mp4" else _write_gif)(counted(), partial, fps)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count
