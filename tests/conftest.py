"""Test session setup: one persistent XLA compilation cache shared by every test.

Many tests train the same tiny configuration; with the cache, each distinct program is
compiled once per session (subprocesses inherit the directory through the environment).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator

import jax
import pytest

from deepcrl import runner
from helpers import four_epoch_config

# Off-screen MuJoCo rendering (Brax task videos) needs EGL here; MuJoCo reads this once, at
# its first import, which may come from any test in this process.
if sys.platform.startswith("linux"):
    os.environ.setdefault("MUJOCO_GL", "egl")

CACHE_DIR = os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="deepcrl-test-xla-cache-")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "-1")
jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


def pytest_sessionfinish() -> None:
    """Remove the cache directory this session created (not one given by the caller).

    Under pytest-xdist the workers inherit the directory and share it; only the controller
    (no PYTEST_XDIST_WORKER) removes it, after every worker has finished.
    """
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if CACHE_DIR.startswith(tempfile.gettempdir()) and "deepcrl-test-xla-cache-" in CACHE_DIR:
        shutil.rmtree(CACHE_DIR, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def quick_compile(request: pytest.FixtureRequest) -> Iterator[None]:
    """Compile with XLA's optimisations off in modules that set ``QUICK_COMPILE = True``.

    Those modules run Brax/MJX physics a few hundred steps: compiling it is most of their
    time, and an unoptimised program computes the same values (to rounding) for them.
    Module scope, so it is in force before the modules' own compiled fixtures; the previous
    setting (e.g. from JAX_DISABLE_MOST_OPTIMIZATIONS) is restored afterwards.
    """
    previous = jax.config.read("jax_disable_most_optimizations")
    if getattr(request.module, "QUICK_COMPILE", False):
        jax.config.update("jax_disable_most_optimizations", True)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", previous)


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory) -> runner.RunResult:
    """A finished 4-epoch run with checkpoints 2, 3, 4 and TensorBoard logs (copy it before
    changing it)."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    return runner.train(four_epoch_config(run_dir, tensorboard=True), verbose=False)
