"""Brax task throughput: env steps/s at 16/64/256 parallel envs, and compile time.

For each task and each ``num_envs``, jit one unroll of ``--unroll`` control steps with
uniform random actions through the training wrapper stack (``wrap_for_training``: time
limit, auto-reset with new goals, trajectory ids, vmap), as the trainer collects data.
Reported: compile time (first call minus a run) and env steps/s = num_envs * unroll /
median run time over ``--repeats`` calls. The point-mass maze is included as a reference.

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

DEFAULT_TASKS = ("point_u_maze", "reacher", "ant", "ant_u_maze", "ant_hardest_maze")


def measure(task: str, num_envs: int, unroll: int, repeats: int) -> dict[str, Any]:
    """Compile time and steps/s of one jitted unroll of ``task`` at ``num_envs``."""
    env = make(task)
    venv = wrappers.wrap_for_training(env, env.default_episode_length, num_envs)

    @jax.jit
    def unroll_fn(state: Any, key: jax.Array) -> Any:
        def body(s: Any, k: jax.Array) -> tuple[Any, None]:
            a = jax.random.uniform(k, (num_envs, env.action_dim), minval=-1.0, maxval=1.0)
            return venv.step(s, a), None

        return jax.lax.scan(body, state, jax.random.split(key, unroll))[0]

    reset = jax.jit(venv.reset)
    t0 = time.perf_counter()
    state = block(reset(jax.random.key(0)))
    reset_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    state = block(unroll_fn(state, jax.random.key(1)))
    first = time.perf_counter() - t0
    runs = []
    for r in range(repeats):
        t0 = time.perf_counter()
        state = block(unroll_fn(state, jax.random.key(2 + r)))
        runs.append(time.perf_counter() - t0)
    run = median(runs)
    assert np.isfinite(np.asarray(state.obs)).all(), f"{task}: non-finite obs"
    return {
        "task": task,
        "num_envs": num_envs,
        "unroll": unroll,
        "reset_compile_s": reset_first,
        "unroll_compile_s": max(first - run, 0.0),
        "unroll_run_s": run,
        "steps_per_s": num_envs * unroll / run,
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
        ["task", "envs", "env steps/s", "unroll compile", "reset compile", "unroll run"],
        [
            [
                r["task"],
                r["num_envs"],
                f"{r['steps_per_s']:,.0f}",
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
        f"{args.repeats}. {git_line(info['git'])}.\n\n{table}\n\n{busy_note(cpu)}\n"
    )
    print(text)
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{args.name}.md").write_text(text)
    (RESULTS_DIR / f"{args.name}.json").write_text(
        json.dumps({"machine": info, "cpu": cpu, "args": vars(args), "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
