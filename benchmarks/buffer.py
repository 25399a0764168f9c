"""Replay-buffer insert and relabelled sampling time at capacity C vs 10C.

The buffer is a ring over (env, time) (``deepcrl.buffer``); an insert must write the unroll
in place, so its cost, and the cost of sampling, should not depend on the capacity. This
script fills two full buffers, of capacity C and 10C per env (same num_envs, same unroll
length, same sample size), and times, interleaved round by round, medians over rounds:

- ``insert`` jitted with the buffer donated (``donate_argnums=0``), as the trainer does;
- ``insert`` jitted WITHOUT donation (XLA must copy the whole buffer: grows with C);
- ``sample_relabelled`` (random windows of one env's steps, future-goal relabelling, pick
  ``num_samples`` valid transitions), at the size the trainer uses;
- insert then sample in one donated jit, the replay work of one training step.

Target from the issue: (insert + sample at 10C) / (insert + sample at C) <= 1.2x.

Donation is verified three ways: the donated input is deleted after the call, the output's
device buffer has the same address as the input's (``unsafe_buffer_pointer``), and
``compiled.memory_analysis()`` reports the buffer's bytes as aliased.

Defaults follow the paper's schedule with Ant-sized data: 512 envs, unroll 62, episode
(window) 1000, 800 SGD steps x batch 256 = 204,800 relabelled samples per training step,
state_dim 29, action_dim 8, C = 2,000 and 10C = 20,000 steps per env (the paper keeps
10,000; 10C holds 1.5 GiB).

Run (about 1-2 minutes on 2 CPU cores; results go to benchmarks/results/buffer.{md,json}):

    .venv/bin/python benchmarks/buffer.py
    .venv/bin/python benchmarks/buffer.py --quick                 # small sizes, seconds
    .venv/bin/python benchmarks/buffer.py --capacity 1000 --scale 10 --num-envs 256
"""

from __future__ import annotations

import argparse
import functools
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from _common import (
    CpuMonitor,
    block,
    busy_note,
    fmt_bytes,
    fmt_s,
    interleaved,
    log,
    markdown_table,
    median,
    save_results,
)
from deepcrl import buffer as rb


def full_buffer(args: argparse.Namespace, capacity: int, key: jax.Array) -> rb.BufferState:
    """A full ring (size = capacity) with episodes of ``episode_length`` and a mid write head."""
    n, ep = args.num_envs, args.episode_length
    k_s, k_a, k_p = jax.random.split(key, 3)
    insert_pos = capacity // 3
    # Logical time l (0 = oldest) of physical slot t; episodes are contiguous in l, each env
    # at its own phase, so windows cross episode boundaries as in a real run.
    logical = (jnp.arange(capacity) - insert_pos) % capacity  # (C,)
    phase = jax.random.randint(k_p, (n, 1), 0, ep)
    traj_id = ((logical[None, :] + phase) // ep).astype(jnp.int32)  # (n, C)
    data = {
        "state": jax.random.normal(k_s, (n, capacity, args.state_dim)),
        "action": jax.random.uniform(k_a, (n, capacity, args.action_dim), minval=-1, maxval=1),
        "traj_id": traj_id,
    }
    return block(
        rb.BufferState(data=data, insert_pos=jnp.int32(insert_pos), size=jnp.int32(capacity))
    )


def make_unroll(args: argparse.Namespace, key: jax.Array) -> rb.Transitions:
    """One unroll, leaves (num_envs, unroll, ...)."""
    n, t = args.num_envs, args.unroll
    k_s, k_a = jax.random.split(key)
    return {
        "state": jax.random.normal(k_s, (n, t, args.state_dim)),
        "action": jax.random.uniform(k_a, (n, t, args.action_dim), minval=-1, maxval=1),
        "traj_id": jnp.full((n, t), 10**6, jnp.int32),
    }


def buffer_bytes(buf: rb.BufferState) -> int:
    """Bytes held by the buffer's arrays."""
    return int(sum(x.nbytes for x in jax.tree.leaves(buf)))


def alias_bytes(compiled: Any) -> int | None:
    """Bytes the compiled program writes in place into donated inputs, if reported."""
    try:
        return int(compiled.memory_analysis().alias_size_in_bytes)
    except Exception:  # not every backend implements memory_analysis
        return None


class Bench:
    """One capacity: a buffer shared by the runners, and the four compiled operations."""

    def __init__(self, args: argparse.Namespace, capacity: int, seed: int) -> None:
        """Build and fill the buffer, compile every operation, verify donation, warm up."""
        self.capacity = capacity
        key = jax.random.PRNGKey(seed)
        k_buf, k_unroll, self.key = jax.random.split(key, 3)
        self.buf = full_buffer(args, capacity, k_buf)
        self.nbytes = buffer_bytes(self.buf)
        self.unroll = block(make_unroll(args, k_unroll))
        sample = functools.partial(
            rb.sample_relabelled,
            num_windows=args.num_windows,
            window=args.episode_length,
            num_samples=args.num_samples,
            discount=args.discount,
            goal_indices=(0, 1),
        )

        def insert_then_sample(
            buf: rb.BufferState, unroll: rb.Transitions, key: jax.Array
        ) -> tuple[rb.BufferState, rb.Transitions]:
            buf = rb.insert(buf, unroll)
            return buf, sample(buf, key)

        lower = lambda fn, *a, **kw: jax.jit(fn, **kw).lower(*a).compile()
        self.compile_s: dict[str, float] = {}
        compiled = {}
        for name, fn, a, kw in [
            ("insert (donated)", rb.insert, (self.buf, self.unroll), {"donate_argnums": 0}),
            ("insert (no donation)", rb.insert, (self.buf, self.unroll), {}),
            ("sample_relabelled", sample, (self.buf, self.key), {}),
            (
                "insert + sample (donated)",
                insert_then_sample,
                (self.buf, self.unroll, self.key),
                {"donate_argnums": 0},
            ),
        ]:
            t0 = time.perf_counter()
            compiled[name] = lower(fn, *a, **kw)
            self.compile_s[name] = time.perf_counter() - t0
        self.compiled = compiled
        self.alias = {name: alias_bytes(c) for name, c in compiled.items()}
        self.donation = self.verify_donation()
        out = block(compiled["sample_relabelled"](self.buf, self.key))
        self.valid_fraction = float(jnp.mean(out["valid"].astype(jnp.float32)))
        self.sample_count = int(out["valid"].shape[0])

    def verify_donation(self) -> dict[str, Any]:
        """Run each insert once and check where its output lives."""
        result: dict[str, Any] = {}
        for name in ("insert (donated)", "insert (no donation)"):
            before = self.buf.data["state"].unsafe_buffer_pointer()
            old = self.buf
            new = block(self.compiled[name](old, self.unroll))
            result[name] = {
                "same_address": new.data["state"].unsafe_buffer_pointer() == before,
                "input_deleted": old.data["state"].is_deleted(),
                "alias_bytes": self.alias[name],
            }
            self.buf = new
            del old
        return result

    def runners(self, min_sample_s: float) -> dict[str, Callable[[], float]]:
        """One sampler per operation; each returns seconds per call."""

        def insert_donated() -> None:
            self.buf = self.compiled["insert (donated)"](self.buf, self.unroll)

        def insert_copy() -> None:
            self.buf = self.compiled["insert (no donation)"](self.buf, self.unroll)

        def sample() -> Any:
            return self.compiled["sample_relabelled"](self.buf, self.key)

        def both() -> Any:
            self.buf, out = self.compiled["insert + sample (donated)"](
                self.buf, self.unroll, self.key
            )
            return out

        ops = {
            "insert (donated)": insert_donated,
            "insert (no donation)": insert_copy,
            "sample_relabelled": sample,
            "insert + sample (donated)": both,
        }
        out: dict[str, Callable[[], float]] = {}
        for name, op in ops.items():
            block((op(), self.buf))  # warm: faults in the output memory
            t0 = time.perf_counter()
            block((op(), self.buf))
            once = time.perf_counter() - t0
            inner = max(1, math.ceil(min_sample_s / max(once, 1e-6)))
            out[f"C={self.capacity} {name}"] = functools.partial(self._sample, op, inner)
        return out

    def _sample(self, op: Callable[[], Any], inner: int) -> float:
        t0 = time.perf_counter()
        last = None
        for _ in range(inner):
            last = op()
        block((last, self.buf))
        return (time.perf_counter() - t0) / inner


OPS = ("insert (donated)", "insert (no donation)", "sample_relabelled", "insert + sample (donated)")


def main() -> None:
    """Time both capacities interleaved and write the result files."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--num-envs", type=int, default=512)
    p.add_argument("--unroll", type=int, default=62, help="steps per env written per insert")
    p.add_argument("--capacity", type=int, default=2000, help="C: time steps per env")
    p.add_argument("--scale", type=int, default=10, help="the larger buffer holds scale * C")
    p.add_argument("--episode-length", type=int, default=1000, help="sampling window length")
    p.add_argument("--sgd-steps", type=int, default=800, help="samples = sgd_steps * batch")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--state-dim", type=int, default=29)
    p.add_argument("--action-dim", type=int, default=8)
    p.add_argument("--discount", type=float, default=0.99)
    p.add_argument("--repeats", type=int, default=15, help="interleaved timing rounds")
    p.add_argument("--min-sample-s", type=float, default=0.2, help="min seconds per sample")
    p.add_argument("--quick", action="store_true", help="small sizes (128 envs, C=500)")
    p.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = p.parse_args()
    if args.quick:
        args.num_envs, args.unroll, args.capacity, args.episode_length = 128, 25, 500, 100
        args.sgd_steps, args.repeats = 16, 7
    if args.capacity < args.episode_length:
        p.error("--capacity must hold at least one episode (window) of --episode-length")
    args.num_samples = args.sgd_steps * args.batch
    # As TrainConfig.sample_windows: twice the windows needed for num_samples valid steps.
    args.num_windows = 2 * math.ceil(args.num_samples / (args.episode_length - 1))
    monitor = CpuMonitor()
    capacities = [args.capacity, args.scale * args.capacity]
    benches = []
    for i, cap in enumerate(capacities):
        t0 = time.perf_counter()
        benches.append(Bench(args, cap, seed=i))
        log(f"C={cap}: {fmt_bytes(benches[-1].nbytes)}, ready in {time.perf_counter() - t0:.1f}s")
    runners: dict[str, Callable[[], float]] = {}
    for b in benches:
        runners |= b.runners(args.min_sample_s)
    samples = interleaved(
        runners, args.repeats, lambda r: log(f"round {r + 1}/{args.repeats} done")
    )
    cpu = monitor.report()
    markdown, payload = report(args, benches, samples, cpu)
    save_results(
        "buffer",
        "Benchmark: replay buffer insert + sample vs capacity",
        markdown,
        payload,
        args.out_dir,
    )


def report(
    args: argparse.Namespace,
    benches: list[Bench],
    samples: dict[str, list[float]],
    cpu: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Markdown tables and the JSON payload."""
    small, large = benches
    med = {name: median(v) for name, v in samples.items()}

    def t(b: Bench, op: str) -> float:
        return med[f"C={b.capacity} {op}"]

    parts = [
        f"{args.num_envs} envs, unroll {args.unroll} (= {args.num_envs * args.unroll:,} "
        f"transitions per insert), state_dim {args.state_dim}, action_dim {args.action_dim}; "
        f"sampling {args.num_windows} windows of {args.episode_length} steps "
        f"({args.num_windows * args.episode_length:,} relabelled candidates) -> "
        f"{args.num_samples:,} samples ({args.sgd_steps} SGD steps x batch {args.batch}). "
        f"Jitted; medians of {args.repeats} interleaved rounds.",
        "",
        busy_note(cpu),
        "",
        "## Time per call",
        "",
    ]
    rows = []
    for op in OPS:
        ratio = t(large, op) / t(small, op)
        rows.append([op, fmt_s(t(small, op)), fmt_s(t(large, op)), f"{ratio:.2f}x"])
    sep = t(small, OPS[0]) + t(small, OPS[2]), t(large, OPS[0]) + t(large, OPS[2])
    rows.append(
        [
            "insert (donated) + sample, separate calls",
            fmt_s(sep[0]),
            fmt_s(sep[1]),
            f"{sep[1] / sep[0]:.2f}x",
        ]
    )
    headers = [
        "operation",
        f"C = {small.capacity:,} ({fmt_bytes(small.nbytes)})",
        f"10C = {large.capacity:,} ({fmt_bytes(large.nbytes)})",
        "10C / C",
    ]
    parts.append(markdown_table(headers, rows))
    combined = t(large, OPS[3]) / t(small, OPS[3])
    ok = combined <= 1.2
    parts += [
        "",
        f"Insert + sample (one donated jit) at 10C / C: **{combined:.2f}x** (target <= 1.2x: "
        f"{'met' if ok else 'MISSED'}). Without donation the insert copies the whole buffer: "
        f"{t(large, OPS[1]) / t(large, OPS[0]):.0f}x slower than donated at 10C.",
        "",
        "## Donation check (one insert each)",
        "",
    ]
    rows = []
    for b in benches:
        for name, d in b.donation.items():
            rows.append(
                [
                    f"C={b.capacity:,}",
                    name,
                    "yes" if d["same_address"] else "no",
                    "yes" if d["input_deleted"] else "no",
                    fmt_bytes(d["alias_bytes"]),
                ]
            )
    parts.append(
        markdown_table(
            ["buffer", "insert", "output at input's address", "input deleted", "aliased bytes"],
            rows,
        )
    )
    parts += [
        "",
        f"Sampled batch: {small.sample_count:,} rows; valid (has a future in its episode): "
        f"{small.valid_fraction:.3f} at C, {large.valid_fraction:.3f} at 10C.",
    ]
    payload = {
        "settings": {k: (str(x) if isinstance(x, Path) else x) for k, x in vars(args).items()},
        "cpu": cpu,
        "buffer_bytes": {str(b.capacity): b.nbytes for b in benches},
        "compile_s": {str(b.capacity): b.compile_s for b in benches},
        "donation": {str(b.capacity): b.donation for b in benches},
        "valid_fraction": {str(b.capacity): b.valid_fraction for b in benches},
        "time_s_median": med,
        "time_s_samples": samples,
        "targets": {
            "insert_plus_sample_ratio": combined,
            "separate_calls_ratio": sep[1] / sep[0],
            "target": 1.2,
            "met": ok,
        },
    }
    return "\n".join(parts), payload


if __name__ == "__main__":
    main()
