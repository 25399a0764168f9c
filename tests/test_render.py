"""Policy videos: jitted rollouts, the drawn point-mass frames, GIF / MP4 files (CPU, seconds)."""

from __future__ import annotations

import itertools
import stat
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import pytest
from matplotlib.animation import FFMpegWriter
from matplotlib.colors import to_rgb
from PIL import Image

from deepcrl import envs
from deepcrl.config import ConfigError
from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.point_mass import PointMassMaze
from deepcrl.envs.wrappers import wrap_for_eval
from deepcrl.render import (
    AGENT_COLOUR,
    FREE_COLOUR,
    GOAL_COLOUR,
    TERMINATED_COLOUR,
    TRAIL_COLOUR,
    WALL_COLOUR,
    MujocoView,
    PointMassView,
    Rollout,
    frames_for,
    rollout,
    rollout_episodes,
    write_video,
)


def constant_policy(params: jax.Array, obs: jax.Array) -> jax.Array:
    """The action ``params`` (2,) in every env: (N, 2)."""
    return jnp.broadcast_to(params, (obs.shape[0], 2))


def greedy_policy(params: jax.Array, obs: jax.Array) -> jax.Array:
    """Head straight for the goal (walls in the way stop it): (N, 2)."""
    return jnp.tanh(params * (obs[:, 2:] - obs[:, :2]))


def rgb(colour: str) -> np.ndarray:
    """(3,) 0..255 floats of a matplotlib colour."""
    return 255 * np.asarray(to_rgb(colour))


def colour_error(frame: np.ndarray, pixel: tuple[int, int], colour: str) -> float:
    """Largest channel difference between ``frame``'s pixel (row, col) and ``colour``."""
    return float(np.abs(frame[pixel].astype(float) - rgb(colour)).max())


def test_rollout_starts_at_reset_and_follows_the_policy() -> None:
    env = envs.make("point_arena")  # open 5x5 room, start near (3, 3): 12 free steps in +x
    key = jax.random.PRNGKey(3)
    length, n = 6, 3
    obs = rollout(env, constant_policy, jnp.array([1.0, 0.0]), key, length, n)
    assert obs.shape == (n, length + 1, env.obs_dim)
    reset = np.asarray(jax.vmap(env.reset)(jax.random.split(key, n)).obs)  # (n, 4)
    np.testing.assert_array_equal(obs[:, 0], reset)
    # +x moves exactly max_step per step, y and the goal never change.
    np.testing.assert_allclose(np.diff(obs[:, :, 0], axis=1), env.max_step, atol=1e-5)
    np.testing.assert_array_equal(obs[:, :, 1:], np.repeat(reset[:, None, 1:], length + 1, 1))
    # The params reach the policy: a zero action leaves everything at the reset obs.
    still = rollout(env, constant_policy, jnp.zeros(2), key, length, n)
    np.testing.assert_array_equal(still, np.repeat(reset[:, None], length + 1, 1))


def test_rollout_stays_in_free_space_and_never_terminates() -> None:
    env = envs.make("point_u_maze")
    out = rollout_episodes(env, greedy_policy, jnp.float32(4.0), jax.random.PRNGKey(0), 40, 4)
    pos = out.observations[..., :2]  # (4, 41, 2)
    assert not np.asarray(env.collides(jnp.asarray(pos))).any()
    rows, cols = env.layout.shape
    assert (pos > 0).all() and (pos[..., 0] < rows - 1).all() and (pos[..., 1] < cols - 1).all()
    assert out.terminated.shape == (4, 41) and not out.terminated.any()
    assert out.positions is None  # the point mass's physics offers no simulator pose
    # The agent moved and got closer to its goal (the greedy policy is not a no-op).
    dist = np.linalg.norm(pos - out.observations[..., 2:], axis=-1)  # (4, 41)
    assert (dist[:, -1] < dist[:, 0]).all()


class FallingArena(PointMassMaze):
    """Open room whose done flag is 1 only while 3.5 < x < 3.9 (a stand-in for a fall)."""

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        state = super().step(state, action)
        x = state.obs[0]
        return state.replace(done=((x > 3.5) & (x < 3.9)).astype(jnp.float32))


def fell_arena() -> FallingArena:
    return FallingArena(envs.make("point_arena").layout, goal_noise=0.35)


def test_rollout_marks_terminated_steps_from_the_first_termination() -> None:
    env = fell_arena()
    out = rollout_episodes(env, constant_policy, jnp.array([1.0, 0.0]), jax.random.PRNGKey(1), 8, 2)
    x = out.observations[..., 0]  # (2, 9); the env keeps stepping after the fall
    assert (x[:, -1] > 3.9).all()  # so the done flag itself went back to 0
    expected = np.maximum.accumulate(x > 3.5, axis=1)  # terminated from the first fall on
    expected[:, 0] = False
    np.testing.assert_array_equal(out.terminated, expected)
    assert out.terminated[:, -1].all() and not out.terminated[:, 1].any()


def hand_made_episode(env: PointMassMaze) -> np.ndarray:
    """(1, 5, 4): the agent walks +y from (1.0, 1.0); the goal sits at (3.0, 1.2)."""
    xs = np.full(5, 1.0)
    ys = 1.0 + 0.2 * np.arange(5)
    return np.stack([xs, ys, np.full(5, 3.0), np.full(5, 1.2)], -1)[None].astype(np.float32)


def test_point_mass_frame_draws_walls_goal_agent_and_trail() -> None:
    env = envs.make("point_u_maze")
    obs = hand_made_episode(env)
    frames = list(frames_for(env, obs))
    view = PointMassView(env)
    assert len(frames) == 5
    assert all(f.shape == (view.height, view.width, 3) and f.dtype == np.uint8 for f in frames)
    # to_pixel agrees with the layout: x = grid row -> column, y = grid column -> up.
    rows, cols = env.layout.shape
    ppc = view.width / rows
    assert view.height - cols * ppc > 0  # caption strip above the maze
    assert view.to_pixel(np.array([3.0, 1.2])) == (
        int(view.height - (1.2 + 0.5) * ppc),
        int((3.0 + 0.5) * ppc),
    )
    last = frames[-1]
    # Every cell centre away from the goal and the path shows wall or floor, as in the layout.
    for i in range(rows):
        for j in range(cols):
            if (i, j) in {(3, 1), (1, 1), (1, 2)}:
                continue
            expected = WALL_COLOUR if env.layout.wall_mask[i, j] else FREE_COLOUR
            assert colour_error(last, view.to_pixel(np.array([i, j], float)), expected) < 3, (i, j)
    assert colour_error(last, view.to_pixel(np.array([3.0, 1.2])), GOAL_COLOUR) < 3
    assert colour_error(last, view.to_pixel(obs[0, -1, :2]), AGENT_COLOUR) < 3
    # The trail passes through the start, which the agent has left by 0.8.
    r0, c0 = view.to_pixel(obs[0, 0, :2])
    patch = last[r0 - 1 : r0 + 2, c0 - 1 : c0 + 2].reshape(-1, 3).astype(float)
    assert np.abs(patch - rgb(TRAIL_COLOUR)).max(axis=1).min() < 30
    assert colour_error(frames[0], (r0, c0), AGENT_COLOUR) < 3  # at t = 0 the agent is there
    # Consecutive frames differ (the caption counts steps), so GIF encoders keep them all.
    assert all((a != b).any() for a, b in itertools.pairwise(frames))


def test_terminated_agent_is_frozen_and_red() -> None:
    env = envs.make("point_u_maze")
    obs = hand_made_episode(env)
    terminated = np.array([[False, False, True, True, True]])
    frames = list(frames_for(env, obs, terminated))
    view = PointMassView(env)
    frozen = view.to_pixel(obs[0, 2, :2])
    assert colour_error(frames[1], view.to_pixel(obs[0, 1, :2]), AGENT_COLOUR) < 3
    for t in (2, 3, 4):
        assert colour_error(frames[t], frozen, TERMINATED_COLOUR) < 3
    assert colour_error(frames[4], view.to_pixel(obs[0, 4, :2]), FREE_COLOUR) < 3


def test_gif_has_one_frame_per_observation(tmp_path: Path) -> None:
    env = envs.make("point_u_maze")
    length, n = 7, 3
    out = rollout_episodes(env, greedy_policy, jnp.float32(4.0), jax.random.PRNGKey(2), length, n)
    path = tmp_path / "videos" / "policy.gif"
    written = write_video(env, out.observations, path, fps=10, terminated=out.terminated)
    assert written == n * (length + 1)
    assert sorted(p.name for p in path.parent.iterdir()) == ["policy.gif"]  # no partial file
    with Image.open(path) as gif:
        assert gif.n_frames == n * (length + 1)
        assert gif.info["duration"] == 100
        gif.seek(length + 1)  # first frame of the second episode
        frame = np.asarray(gif.convert("RGB"))
    view = PointMassView(env)
    goal = out.observations[1, 0, 2:]
    assert colour_error(frame, view.to_pixel(goal), GOAL_COLOUR) < 20  # after quantisation


def test_gif_keeps_frames_of_an_agent_standing_still(tmp_path: Path) -> None:
    env = envs.make("point_u_maze")
    obs = np.repeat(hand_made_episode(env)[:, :1], 6, axis=1)  # (1, 6, 4), nothing moves
    assert write_video(env, obs, tmp_path / "still.gif") == 6
    with Image.open(tmp_path / "still.gif") as gif:
        assert gif.n_frames == 6  # the caption's step counter keeps frames distinct


def test_wrapped_env_renders_like_the_task() -> None:
    env = envs.make("point_u_maze")
    obs = hand_made_episode(env)
    wrapped = wrap_for_eval(env, 5, 1)
    for a, b in zip(frames_for(wrapped, obs), frames_for(env, obs), strict=True):
        np.testing.assert_array_equal(a, b)


class Blob(GoalEnv):
    """A task with no renderer."""

    state_dim, goal_indices, action_dim, goal_reach_thresh = 2, (0, 1), 2, 0.1

    def reset(self, key: jax.Array) -> EnvState:
        return EnvState(physics=None, obs=jnp.zeros(4), done=jnp.zeros(()))

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        return state


def one_line(err: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


def test_bad_requests_raise_one_line_config_errors(tmp_path: Path) -> None:
    env = envs.make("point_u_maze")
    obs = hand_made_episode(env)
    with pytest.raises(
        ConfigError,
        match=r"cannot draw Blob envs yet \(supported: Ant, ArmEnv, Humanoid, PointMassMaze, "
        r"Pusher, Reacher\)",
    ) as e:
        frames_for(Blob(), obs)  # raises at the call, not at the first frame
    one_line(e)
    with pytest.raises(ConfigError, match="cannot draw Blob"):
        write_video(Blob(), obs, tmp_path / "x.gif")
    with pytest.raises(ConfigError, match=r"use a \.gif or \.mp4 file") as e:
        write_video(env, obs, tmp_path / "x.avi")
    one_line(e)
    with pytest.raises(ConfigError, match=r"observations must be \(num_episodes, steps, 4\)"):
        write_video(env, obs[0], tmp_path / "x.gif")
    with pytest.raises(ConfigError, match="terminated must be"):
        write_video(env, obs, tmp_path / "x.gif", terminated=np.zeros((2, 5), bool))
    with pytest.raises(ConfigError, match="fps must be >= 1"):
        write_video(env, obs, tmp_path / "x.gif", fps=0)
    with pytest.raises(ConfigError, match="episode_length must be >= 1"):
        rollout(env, constant_policy, jnp.zeros(2), jax.random.PRNGKey(0), 0, 1)
    assert list(tmp_path.iterdir()) == []


def test_mp4_without_ffmpeg_suggests_gif(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FFMpegWriter, "isAvailable", classmethod(lambda cls: False))
    env = envs.make("point_u_maze")
    with pytest.raises(ConfigError, match=r"needs ffmpeg.*\.gif") as e:
        write_video(env, hand_made_episode(env), tmp_path / "policy.mp4")
    one_line(e)
    assert not (tmp_path / "policy.mp4").exists()


def test_mp4_streams_every_frame_to_ffmpeg(tmp_path: Path) -> None:
    # A stand-in ffmpeg: writes how many bytes of raw frames it received to the output file.
    fake = tmp_path / "ffmpeg"
    fake.write_text('#!/bin/sh\nfor last; do :; done\nwc -c > "$last"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = envs.make("point_u_maze")
    obs = np.concatenate([hand_made_episode(env)] * 2)  # (2, 5, 4)
    with matplotlib.rc_context({"animation.ffmpeg_path": str(fake)}):
        written = write_video(env, obs, tmp_path / "policy.mp4", fps=5)
    view = PointMassView(env)
    assert written == 10
    received = int((tmp_path / "policy.mp4").read_text().split()[0])
    assert received == 10 * view.height * view.width * 4  # RGBA frames of the drawn size


# ---- Brax tasks: off-screen MuJoCo frames --------------------------------------------------


@pytest.fixture(scope="module")
def reacher_episodes() -> tuple[GoalEnv, Rollout]:
    """Reacher and 2 episodes of 10 steps under a constant torque (one compile, shared)."""
    pytest.importorskip("brax")
    env = envs.make("reacher")
    out = rollout_episodes(
        env, constant_policy, jnp.array([0.6, -0.4]), jax.random.PRNGKey(5), 10, 2
    )
    return env, out


def green_pixels_mask(frame: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels close to the goal marker's colour (shading allowed for)."""
    f = frame.astype(int)
    goal = rgb(GOAL_COLOUR)
    hue = (f[..., 1] - np.maximum(f[..., 0], f[..., 2])) > 0.5 * (goal[1] - goal[0])
    return hue & (np.abs(f - goal).max(-1) < 60)


def green_pixels(frame: np.ndarray) -> int:
    """How many pixels are close to the goal marker's colour."""
    return int(green_pixels_mask(frame).sum())


def test_reacher_rollout_records_the_simulator_pose(
    reacher_episodes: tuple[GoalEnv, Rollout],
) -> None:
    env, out = reacher_episodes
    assert out.positions is not None and out.positions.shape == (2, 11, 4)  # MuJoCo qpos
    q, obs = out.positions, out.observations
    # obs starts with cos q0, cos q1, sin q0, sin q1; the target's slides q[2:4] = goal xy.
    np.testing.assert_allclose(np.cos(q[..., :2]), obs[..., 0:2], atol=1e-5)
    np.testing.assert_allclose(np.sin(q[..., :2]), obs[..., 2:4], atol=1e-5)
    np.testing.assert_allclose(q[..., 2:4], obs[..., env.state_dim : env.state_dim + 2], atol=1e-5)
    assert np.abs(np.diff(q[..., :2], axis=1)).max() > 1e-3  # the arm moves


def test_reacher_gif_shows_the_arm_and_the_goal(
    reacher_episodes: tuple[GoalEnv, Rollout], tmp_path: Path
) -> None:
    env, out = reacher_episodes
    path = tmp_path / "reacher.gif"
    try:
        written = write_video(env, out, path, fps=10)
    except ConfigError as e:  # a machine without EGL/OSMesa
        if "OpenGL context" in str(e):
            pytest.skip(str(e))
        raise
    assert written == 2 * 11
    with Image.open(path) as gif:
        assert gif.n_frames == 2 * 11  # consecutive frames differ (caption and arm)
        frames = []
        for i in (0, 11, 21):
            gif.seek(i)
            frames.append(np.asarray(gif.convert("RGB")))
    for frame in frames:
        assert frame.shape == (380, 480, 3)
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 20  # not blank
        assert green_pixels(frame) > 30  # the goal marker
    assert (frames[0] != frames[1]).any()  # a new episode: a new goal and start


def test_mujoco_view_marks_the_goal_where_it_is(
    reacher_episodes: tuple[GoalEnv, Rollout],
) -> None:
    env, out = reacher_episodes
    assert out.positions is not None
    try:
        view = MujocoView(env, width=160, height=140)
    except ConfigError as e:
        pytest.skip(str(e))
    try:
        q, goal = out.positions[0, 0], out.observations[0, 0, env.state_dim :]
        near = view.frame(q, goal, "near", ended=False)
        far = view.frame(q, goal + np.array([0.15, 0.0, 0.0]), "far", ended=False)
    finally:
        view.close()
    assert near.shape == (140, 160, 3)
    assert green_pixels(near) > 10 and green_pixels(far) > 10
    # Moving the goal +x moves the marker to the right in the picture (camera looks along +y).
    cols_near = np.nonzero(green_pixels_mask(near))[1].mean()
    cols_far = np.nonzero(green_pixels_mask(far))[1].mean()
    assert cols_far > cols_near + 10


def test_brax_render_errors_are_one_line(
    reacher_episodes: tuple[GoalEnv, Rollout], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, out = reacher_episodes
    with pytest.raises(ConfigError, match="needs the simulator positions") as e:
        frames_for(env, out.observations)  # bare observations: no pose to draw
    one_line(e)
    import mujoco

    def no_gl(*args: object, **kwargs: object) -> None:
        raise mujoco.FatalError("gladLoadGL error\nsecond line")

    monkeypatch.setattr(mujoco, "Renderer", no_gl)
    with pytest.raises(
        ConfigError, match=r"OpenGL context.*MUJOCO_GL=egl or MUJOCO_GL=osmesa"
    ) as e:
        frames_for(env, out)
    assert "gladLoadGL error" in one_line(e)
