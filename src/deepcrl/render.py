"""Videos of a deterministic policy reaching goals: jitted rollout -> RGB frames -> GIF / MP4.

Three layers, each usable on its own:

- ``rollout`` / ``rollout_episodes``: one jitted ``lax.scan`` over ``episode_length`` steps in
  ``num_episodes`` envs (the evaluator's episode: time limit, no auto-reset), returning the
  observations (num_episodes, episode_length + 1, obs_dim) with the reset obs first.
- ``frames_for(env, observations)``: RGB frames (H, W, 3) uint8, one per observation,
  episodes one after another. It dispatches on the env type through a registry
  (``register_renderer``), so a Brax/MJX task can plug in its own off-screen renderer.
- ``write_video``: streams those frames to a GIF (Pillow) or an MP4 (matplotlib's
  FFMpegWriter, when ffmpeg is installed).

The point-mass maze is drawn as a top view with matplotlib's Agg canvas (no display): the
maze and the goal are rendered once per goal, and each frame restores that background and
redraws only the trajectory, the agent and the caption (blitting).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from deepcrl.config import ConfigError
from deepcrl.envs.base import GoalEnv
from deepcrl.envs.point_mass import PointMassMaze
from deepcrl.envs.wrappers import Wrapper, wrap_for_eval
from deepcrl.evaluate import Params, PolicyFn

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

    def run(params: Params, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        first = eval_env.reset(key)

        def step(state: Any, _: None) -> tuple[Any, tuple[jax.Array, jax.Array]]:
            nxt = eval_env.step(state, policy(params, state.obs))
            truncation = nxt.info.get("truncation", jnp.zeros_like(nxt.done))
            ended = (nxt.done > 0) & (truncation == 0)  # (N,) terminated at this step
            return nxt, (nxt.obs, ended)

        # obs: (T, N, obs_dim); ended: (T, N)
        _, (obs, ended) = jax.lax.scan(step, first, None, length=episode_length)
        observations = jnp.concatenate([first.obs[None], obs], axis=0)  # (T + 1, N, obs_dim)
        # terminated[t] = some step in 1..t terminated; False at the reset obs: (T + 1, N)
        so_far = jnp.cumsum(ended.astype(jnp.int32), axis=0) > 0
        terminated = jnp.concatenate([jnp.zeros((1, num_episodes), bool), so_far], axis=0)
        return observations.swapaxes(0, 1), terminated.swapaxes(0, 1)

    observations, terminated = jax.jit(run)(params, key)
    return Rollout(np.asarray(observations), np.asarray(terminated))


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


FrameRenderer = Callable[[Any, np.ndarray, np.ndarray], Iterator[np.ndarray]]
"""(unwrapped env, observations (E, T + 1, obs_dim), terminated (E, T + 1) bool) ->
RGB frames (H, W, 3) uint8, E * (T + 1) of them, all the same size, consecutive ones
distinct (GIF encoders merge identical frames)."""

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


def _check_observations(
    env: GoalEnv, observations: np.ndarray, terminated: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Validated (E, T + 1, obs_dim) observations and (E, T + 1) terminated flags."""
    observations = np.asarray(observations)
    if observations.ndim != 3 or observations.shape[-1] != env.obs_dim or 0 in observations.shape:
        raise ConfigError(
            f"render: observations must be (num_episodes, steps, {env.obs_dim}), "
            f"got {observations.shape}"
        )
    if terminated is None:
        return observations, np.zeros(observations.shape[:2], bool)
    terminated = np.asarray(terminated, bool)
    if terminated.shape != observations.shape[:2]:
        raise ConfigError(
            f"render: terminated must be {observations.shape[:2]}, got {terminated.shape}"
        )
    return observations, terminated


def frames_for(
    env: GoalEnv, observations: np.ndarray, terminated: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """RGB frames (H, W, 3) uint8 of (E, T + 1, obs_dim) observations, episode after episode."""
    base = _unwrapped(env)
    renderer = _renderer(base)  # raises now, not at the first frame
    observations, terminated = _check_observations(base, observations, terminated)
    return renderer(base, observations, terminated)


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


def _point_mass_frames(
    env: PointMassMaze, observations: np.ndarray, terminated: np.ndarray
) -> Iterator[np.ndarray]:
    """Frames of a point-mass maze (the FrameRenderer registered for PointMassMaze)."""
    return PointMassView(env).frames(observations, terminated)


register_renderer(PointMassMaze, _point_mass_frames)


def _write_gif(frames: Iterator[np.ndarray], path: Path, fps: int) -> None:
    """Stream RGB frames into an animated GIF with Pillow (each frame held as 8-bit palette)."""
    from PIL import Image

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
    observations: np.ndarray,
    path: Path | str,
    fps: int = 20,
    terminated: np.ndarray | None = None,
) -> int:
    """Write one frame per observation (E, T + 1, obs_dim) to a .gif or .mp4; returns frames."""
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
    frames = frames_for(env, observations, terminated)  # validates env and shapes
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
