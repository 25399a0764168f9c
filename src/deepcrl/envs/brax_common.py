"""Shared pieces of the Brax-backed tasks: lazy imports, model loading, physics stepping.

Brax (and MuJoCo) are an optional extra (``pip install deepcrl[brax]``) and slow to import,
so nothing here imports them at module level: ``import deepcrl.envs`` and ``deepcrl envs``
stay fast, and a missing extra only fails when a Brax task is built.

A Brax task keeps its ``brax.System`` (the compiled model: a pytree of small constant
arrays) on the env object. It is closed over by ``reset``/``step`` and becomes an XLA
constant of the jitted program, as in every Brax environment; it is a few KB to a few
hundred KB, not a training-sized array.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

BACKENDS = ("generalized", "spring", "positional")
"""Brax pipelines a task may use (mjx is left out: it needs a different model setup)."""


class BraxMissingError(ImportError):
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
    """Import ``name`` from brax, turning a missing package into a clear install hint."""
    use_headless_gl()
    try:
        with warnings.catch_warnings():
            # brax.io.mjcf warns on every load that Brax is in maintenance mode.
            warnings.simplefilter("ignore", UserWarning)
            return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("brax", "mujoco", "etils"):
            raise BraxMissingError(
                "Brax tasks need the optional extra: pip install 'deepcrl[brax]'"
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
