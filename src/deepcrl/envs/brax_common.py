"""Shared pieces of the Brax- and MJX-backed tasks: lazy imports, model loading, stepping.

Brax (and MuJoCo) are an optional extra (``pip install deepcrl[brax]``) and slow to import,
so nothing here imports them at module level: ``import deepcrl.envs`` and ``deepcrl envs``
stay fast, and a missing extra only fails when a Brax task is built.

A Brax task keeps its ``brax.System`` (the compiled model: a pytree of small constant
arrays) on the env object. It is closed over by ``reset``/``step`` and becomes an XLA
constant of the jitted program, as in every Brax environment; it is a few KB to a few
hundred KB, not a training-sized array.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.errors import ConfigError

BACKENDS = ("generalized", "spring", "positional")
"""Brax pipelines a task may use (MJX tasks use ``MjxSim`` below instead)."""


class BraxMissingError(ConfigError, ImportError):
    """Raised when a Brax task is built without the optional ``brax`` extra installed."""


def use_headless_gl() -> None:
    """Default MuJoCo's OpenGL backend to EGL (off-screen, no display) on Linux.

    MuJoCo reads ``MUJOCO_GL`` once, when it is first imported (brax imports it), so this
    runs before any brax import; a value the user set wins. Training never makes a GL
    context; ``deepcrl render`` does. (EGL is Linux-only: elsewhere MuJoCo's default stays.)
    """
    if sys.platform.startswith("linux"):
        os.environ.setdefault("MUJOCO_GL", "egl")


def _import(name: str) -> Any:
    """Import ``name`` from brax/mujoco, turning a missing package into a clear install hint."""
    use_headless_gl()
    try:
        # brax.io.mjcf warns on every load that Brax is in maintenance mode, and mujoco.mjx
        # prints "Failed to import warp" to stdout when its optional GPU backend is absent.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", UserWarning)
            return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("brax", "mujoco", "etils"):
            raise BraxMissingError(
                "Brax/MJX tasks need the optional extra: pip install 'deepcrl[brax]'"
            ) from e
        raise


def brax_asset(filename: str) -> str:
    """Text of a model file shipped inside the installed brax package (brax/envs/assets)."""
    brax = _import("brax")
    return (Path(brax.__file__).parent / "envs" / "assets" / filename).read_text()


def load_system(xml: str, *, timestep: float | None = None) -> Any:
    """A ``brax.System`` from an MJCF string, with ``opt.timestep`` overridden if given."""
    mjcf = _import("brax.io.mjcf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sys = mjcf.loads(xml)
    if timestep is not None:
        sys = sys.tree_replace({"opt.timestep": timestep})
    return sys


def pipeline(backend: str) -> Any:
    """The brax pipeline module (``init``/``step`` functions) named ``backend``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return _import(f"brax.{backend}.pipeline")


def rotate(vec: jax.Array, quat: jax.Array) -> jax.Array:
    """(3,) ``vec`` rotated by the unit quaternion ``quat`` (w, x, y, z)."""
    w, u = quat[0], quat[1:]
    # v' = v + 2 w (u x v) + 2 u x (u x v)
    uv = jnp.cross(u, vec)
    return vec + 2 * w * uv + 2 * jnp.cross(u, uv)


class BraxSim:
    """A brax System plus a pipeline and a frame skip: init and one control step."""

    def __init__(self, sys: Any, backend: str, n_frames: int) -> None:
        """Drive ``sys`` with ``backend``; one control step = ``n_frames`` physics steps."""
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        self.sys = sys
        self.backend = backend
        self.n_frames = int(n_frames)
        self._pipeline = pipeline(backend)

    @property
    def dt(self) -> float:
        """Control timestep in seconds: physics timestep * n_frames."""
        return float(self.sys.opt.timestep) * self.n_frames

    @property
    def mj_model(self) -> Any:
        """The ``mujoco.MjModel`` the system was loaded from (what the renderer draws)."""
        return self.sys.mj_model

    def init(self, q: jax.Array, qd: jax.Array) -> Any:
        """Pipeline state at joint positions ``q`` (q_size,) and velocities ``qd`` (qd_size,)."""
        return self._pipeline.init(self.sys, q, qd)

    def step(self, state: Any, action: jax.Array) -> Any:
        """``n_frames`` physics steps with the actuator input ``action`` held fixed."""

        def body(s: Any, _: None) -> tuple[Any, None]:
            return self._pipeline.step(self.sys, s, action), None

        return jax.lax.scan(body, state, None, length=self.n_frames)[0]


@struct.dataclass
class BraxPhysics:
    """Simulator state of one Brax task instance: the pipeline state and the goal."""

    pipeline_state: Any
    """brax.base.State (q, qd, link transforms x and velocities xd, ...)."""
    goal: jax.Array
    """(goal_dim,) commanded goal."""

    def render_positions(self) -> jax.Array:
        """(q_size,) joint positions, i.e. MuJoCo's qpos of ``sys.mj_model``: the full pose.

        The renderer's hook (``deepcrl.render``): a rollout records it every step, since the
        observation alone need not hold the whole pose. Works batched too: (..., q_size).
        """
        return self.pipeline_state.q


class MjxSim:
    """A MuJoCo model stepped with MJX (mujoco.mjx, pure JAX): init and one control step."""

    def __init__(self, xml: str, n_frames: int) -> None:
        """Compile the MJCF string ``xml``; one control step = ``n_frames`` physics steps."""
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        mujoco = _import("mujoco")
        self._mjx = _import("mujoco.mjx")
        self.mj_model = mujoco.MjModel.from_xml_string(xml)
        """The host-side ``mujoco.MjModel`` (names, ids; what the renderer draws)."""
        self.model = self._mjx.put_model(self.mj_model)
        """The ``mjx.Model``: small constant arrays, closed over by the jitted step."""
        self.n_frames = int(n_frames)

    @property
    def dt(self) -> float:
        """Control timestep in seconds: physics timestep * n_frames."""
        return float(self.mj_model.opt.timestep) * self.n_frames

    def init(self, qpos: jax.Array, qvel: jax.Array, ctrl: jax.Array) -> Any:
        """``mjx.Data`` at ``qpos`` (nq,), ``qvel`` (nv,), actuator input ``ctrl`` (nu,), with
        body and site poses computed.

        Only the kinematics runs (not a full mj_forward: contacts and the constraint solver
        would double the compile time of a reset); ``step`` recomputes everything else
        from qpos, qvel and ctrl before it integrates.
        """
        data = self._mjx.make_data(self.model).replace(qpos=qpos, qvel=qvel, ctrl=ctrl)
        return self._mjx.kinematics(self.model, data)

    def step(self, data: Any, ctrl: jax.Array) -> Any:
        """``n_frames`` physics steps with the actuator input ``ctrl`` (nu,) held fixed."""

        def body(d: Any, _: None) -> tuple[Any, None]:
            return self._mjx.step(self.model, d), None

        return jax.lax.scan(body, data.replace(ctrl=ctrl), None, length=self.n_frames)[0]


@struct.dataclass
class MjxPhysics:
    """Simulator state of one MJX task instance: the ``mjx.Data`` and the goal."""

    data: Any
    """mjx.Data (qpos, qvel, ctrl, body and site poses, contacts, ...)."""
    goal: jax.Array
    """(goal_dim,) commanded goal."""

    def render_positions(self) -> jax.Array:
        """(..., nq) MuJoCo qpos (the renderer's hook, as ``BraxPhysics.render_positions``)."""
        return self.data.qpos


class BraxTask(GoalEnv):
    """A task driven by a ``BraxSim`` with actions as clipped torques, goal in BraxPhysics.

    Subclasses set ``self.sim`` and define ``_observe(ps, goal) -> (obs, metrics)``;
    ``terminated`` (default: never) ends an episode early, e.g. on a fall.
    """

    sim: BraxSim

    def _observe(self, ps: Any, goal: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """(obs_dim,) obs = state ++ goal and the per-step metrics."""
        raise NotImplementedError

    def terminated(self, ps: Any) -> jax.Array | None:
        """() bool: whether the episode ends at pipeline state ``ps`` (None: never)."""
        return None

    def step(self, state: EnvState, action: jax.Array) -> EnvState:
        """Apply the actions clipped to [-1, 1] for one control step."""
        physics: BraxPhysics = state.physics
        ps = self.sim.step(physics.pipeline_state, jnp.clip(action, -1.0, 1.0))
        obs, metrics = self._observe(ps, physics.goal)
        physics = BraxPhysics(pipeline_state=ps, goal=physics.goal)
        return state.advance(physics, obs, metrics, done=self.terminated(ps))
