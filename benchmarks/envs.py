"""Brax task throughput: env steps/s at 16/64/256 parallel envs, and compile time.

For each task and each ``num_envs``, jit one unroll of ``--unroll`` control steps with
uniform random actions through the training wrapper stack (``wrap_for_training``: time
limit, auto-reset with new goals, trajectory ids, vmap), as the trainer collects data.
Reported: compile time (first call minus a run) and env steps/s = num_envs * unroll /
median run time over ``--repeats`` calls. The point-mass maze is included as a reference.
For Brax tasks the same unroll of brax's raw pipeline (vmapped ``pipeline.step`` x frames,
no wrappers) is timed alternately, and the wrapper overhead is wrapped / raw time - 1.

Run (several minutes on 2 CPU cores; results go to benchmarks/results/envs.{md,json}):

    .venv/bin/python benchmarks/envs.py
    .venv/bin/python benchmarks/envs.py --tasks reacher ant --num-envs 16 --unroll 20
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import jax
import numpy as np

from _common import (
    RESULTS_DIR,
    CpuMonitor,
    block,
    busy_note,
    git_line,
    log,
    machine_info,
    markdown_table,
    median,
)
from deepcrl.envs import make, wrappers
from deepcrl.envs.brax_common import BraxSim
from deepcrl.envs.brax_common import pipeline as brax_pipeline

DEFAULT_TASKS = ("point_u_maze", "reacher", "ant", "ant_u_maze", "ant_hardest_maze")


def random_unroll(step: Any, num_envs: int, action_dim: int, unroll: int) -> Any:
    """A jitted ``unroll``-step scan of ``step(state, actions)`` with uniform random actions."""

    @jax.jit
    def unroll_fn(state: Any, key: jax.Array) -> Any:
        def body(s: Any, k: jax.Array) -> tuple[Any, None]:
            a = jax.random.uniform(k, (num_envs, action_dim), minval=-1.0, maxval=1.0)
            return step(s, a), None

        return jax.lax.scan(body, state, jax.random.split(key, unroll))[0]

    return unroll_fn


def raw_pipeline_step(env: Any) -> Any | None:
    """Brax's own pipeline stepped n_frames times per action, vmapped; None if not Brax.

    The reference for our wrapper overhead: the same physics with no observation, goal,
    time limit, auto-reset or trajectory ids.
    """
    sim = getattr(env, "sim", None)
    if not isinstance(sim, BraxSim):
        return None
    pipe = brax_pipeline(sim.backend)

    def one(ps: Any, action: jax.Array) -> Any:
        def frame(s: Any, _: None) -> tuple[Any, None]:
            return pipe.step(sim.sys, s, action), None

        return jax.lax.scan(frame, ps, None, length=sim.n_frames)[0]

    return jax.vmap(one)


def measure(task: str, num_envs: int, unroll: int, repeats: int) -> dict[str, Any]:
    """Compile time and steps/s of one jitted unroll of ``task`` at ``num_envs``.

    For Brax tasks the raw pipeline is timed too, alternating with the wrapped env run
    for run, so the overhead ratio survives a busy machine.
    """
    env = make(task)
    venv = wrappers.wrap_for_training(env, env.default_episode_length, num_envs)
    unroll_fn = random_unroll(venv.step, num_envs, env.action_dim, unroll)
    raw_step = raw_pipeline_step(env)
    raw_fn = None if raw_step is None else random_unroll(raw_step, num_envs, env.action_dim, unroll)

    reset = jax.jit(venv.reset)
    t0 = time.perf_counter()
    state = block(reset(jax.random.key(0)))
    reset_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    state = block(unroll_fn(state, jax.random.key(1)))
    first = time.perf_counter() - t0
    raw_state = None
    if raw_fn is not None:
        raw_state = block(raw_fn(state.physics.pipeline_state, jax.random.key(1)))
    runs, raw_runs = [], []
    for r in range(repeats):
        t0 = time.perf_counter()
        state = block(unroll_fn(state, jax.random.key(2 + r)))
        runs.append(time.perf_counter() - t0)
        if raw_fn is not None:
            t0 = time.perf_counter()
            raw_state = block(raw_fn(raw_state, jax.random.key(2 + r)))
            raw_runs.append(time.perf_counter() - t0)
    run = median(runs)
    assert np.isfinite(np.asarray(state.obs)).all(), f"{task}: non-finite obs"
    raw = median(raw_runs) if raw_runs else None
    return {
        "task": task,
        "num_envs": num_envs,
        "unroll": unroll,
        "reset_compile_s": reset_first,
        "unroll_compile_s": max(first - run, 0.0),
        "unroll_run_s": run,
        "steps_per_s": num_envs * unroll / run,
        "raw_steps_per_s": None if raw is None else num_envs * unroll / raw,
        "wrapper_overhead": None if raw is None else run / raw - 1.0,
    }


def main() -> None:
    """Measure every task at every size; print and save the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS))
    parser.add_argument("--num-envs", nargs="+", type=int, default=[16, 64, 256])
    parser.add_argument("--unroll", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="envs", help="results file stem")
    args = parser.parse_args()

    monitor = CpuMonitor()
    rows = []
    for task in args.tasks:
        for n in args.num_envs:
            res = measure(task, n, args.unroll, args.repeats)
            rate, comp = res["steps_per_s"], res["unroll_compile_s"]
            log(f"{task} x{n}: {rate:.0f} steps/s, compile {comp:.1f} s")
            rows.append(res)
    cpu = monitor.report()
    table = markdown_table(
        [
            "task",
            "envs",
            "env steps/s",
            "raw pipeline steps/s",
            "wrapper overhead",
            "unroll compile",
            "reset compile",
            "unroll run",
        ],
        [
            [
                r["task"],
                r["num_envs"],
                f"{r['steps_per_s']:,.0f}",
                "-" if r["raw_steps_per_s"] is None else f"{r['raw_steps_per_s']:,.0f}",
                "-" if r["wrapper_overhead"] is None else f"{r['wrapper_overhead']:+.0%}",
                f"{r['unroll_compile_s']:.1f} s",
                f"{r['reset_compile_s']:.1f} s",
                f"{r['unroll_run_s'] * 1e3:.0f} ms",
            ]
            for r in rows
        ],
    )
    info = machine_info()
    text = (
        f"# Brax env throughput ({info['device_kind']}, {info['cpu_count']} cores)\n\n"
        f"Random actions through wrap_for_training, unroll {args.unroll} steps, median of "
        f"{args.repeats}; raw pipeline = brax's pipeline.step x frames, vmapped, no wrappers "
        f"(timed alternately). {git_line(info['git'])}.\n\n{table}\n\n{busy_note(cpu)}\n"
    )
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{args.name}.md").write_text(text)
    (RESULTS_DIR / f"{args.name}.json").write_text(
        json.dumps({"machine": info, "cpu": cpu, "args": vars(args), "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
