"""Data-parallel scaling: training throughput vs device count (strong and weak scaling).

For each device count n, builds the real trainer on an n-device mesh
(``deepcrl.parallel.make_mesh(n)``), runs ``init`` (prefill), compiles ``train_epoch`` with
the state donated (as ``deepcrl train`` does), runs one warm-up epoch, then times epochs for
all (mode, n) pairs interleaved round by round. Two modes:

- strong: the global problem is fixed (``--num-envs`` envs, batch ``--batch``), split n ways;
  ideal: n-fold throughput, efficiency = speed-up / n;
- weak: the per-device problem is fixed (``--num-envs`` / ``--batch`` are per device, so the
  global problem grows n-fold); ideal: n-fold throughput at constant epoch time,
  efficiency = epoch time(1) / epoch time(n).

By default the devices are FAKE CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count),
which share the machine's cores: the numbers measure the overhead of the sharded program
(collectives, partitioning), not a speed-up. On real accelerators pass ``--real-devices``
(see docs/multi_device.md for measuring scaling efficiency on a cluster).

Run (a few minutes on 2 CPU cores; results go to benchmarks/results/multidevice.{md,json}):

    .venv/bin/python benchmarks/multidevice.py
    .venv/bin/python benchmarks/multidevice.py --devices 1,2,4,8 --real-devices   # GPUs
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any


def parse_args() -> argparse.Namespace:
    """Command-line settings (parsed before JAX starts: they decide the fake device count)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--devices", default="1,2,4", help="device counts to compare")
    p.add_argument("--modes", default="strong,weak", help="strong and/or weak scaling")
    p.add_argument("--real-devices", action="store_true", help="use the machine's devices")
    p.add_argument("--env", default="point_u_maze", help="registered task name")
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--num-envs", type=int, default=128, help="global (strong) / per device (weak)")
    p.add_argument("--batch", type=int, default=256, help="global (strong) / per device (weak)")
    p.add_argument("--unroll", type=int, default=25, help="env steps per env per train step")
    p.add_argument("--sgd-steps", type=int, default=8, help="SGD steps per training step")
    p.add_argument("--train-steps-per-epoch", type=int, default=4)
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per configuration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    return p.parse_args()


ARGS = parse_args()
COUNTS = [int(n) for n in ARGS.devices.split(",") if n.strip()]
if not ARGS.real_devices:
    # Must happen before JAX initialises its backend.
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={max(COUNTS)}"
    os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402

from _common import (  # noqa: E402
    CpuMonitor,
    busy_note,
    fmt_s,
    interleaved,
    log,
    markdown_table,
    median,
    save_results,
    timed,
)
from deepcrl import envs  # noqa: E402
from deepcrl.config import CRLConfig, NetworkConfig, TrainConfig  # noqa: E402
from deepcrl.training import make_trainer  # noqa: E402


class Setup:
    """One (mode, device count): trainer on its mesh, compiled epoch, live donated state."""

    def __init__(self, args: argparse.Namespace, mode: str, devices: int) -> None:
        """Build, init, compile and run one warm-up epoch."""
        self.mode, self.devices = mode, devices
        scale = devices if mode == "weak" else 1
        num_envs, batch = args.num_envs * scale, args.batch * scale
        steps_per_epoch = args.train_steps_per_epoch * num_envs * args.unroll
        cfg = TrainConfig(
            env=args.env,
            num_envs=num_envs,
            unroll_length=args.unroll,
            sgd_steps=args.sgd_steps,
            num_epochs=args.epochs + 1,
            total_env_steps=(args.epochs + 1) * steps_per_epoch,
            num_eval_envs=num_envs,
            network=NetworkConfig(depth=args.depth, width=args.width),
            crl=CRLConfig(batch_size=batch),
            seed=args.seed,
            devices=devices,
        )
        self.trainer = make_trainer(cfg, envs.make(args.env))
        self.cfg = self.trainer.cfg
        key = jax.random.PRNGKey(args.seed)
        self.init_s, self.ts = timed(lambda: jax.jit(self.trainer.init)(key))
        t0 = time.perf_counter()
        self.epoch_fn = jax.jit(self.trainer.train_epoch, donate_argnums=0).lower(self.ts).compile()
        self.compile_s = time.perf_counter() - t0
        self.warmup_s, _ = timed(self.run_epoch)
        self.critic_loss = float("nan")

    @property
    def name(self) -> str:
        """'strong/4'."""
        return f"{self.mode}/{self.devices}"

    def run_epoch(self) -> Any:
        """One epoch; keeps the new state."""
        self.ts, metrics = self.epoch_fn(self.ts)
        self._metrics = metrics
        return self.ts

    def sample(self) -> float:
        """Seconds of one epoch."""
        seconds, _ = timed(self.run_epoch)
        self.critic_loss = float(self._metrics["critic/loss"])
        return seconds


def main() -> None:
    """Time every (mode, device count) interleaved and write the result files."""
    args = ARGS
    modes = [m for m in args.modes.split(",") if m.strip()]
    available = jax.device_count()
    if max(COUNTS) > available:
        sys.exit(f"asked for {max(COUNTS)} devices, {available} available")
    monitor = CpuMonitor()
    setups = []
    for mode in modes:
        for n in COUNTS:
            s = Setup(args, mode, n)
            setups.append(s)
            log(
                f"{s.name}: {s.cfg.num_envs} envs, batch {s.cfg.crl.batch_size}; init "
                f"{s.init_s:.1f}s, compile {s.compile_s:.1f}s, warm-up {s.warmup_s:.1f}s"
            )
    samples = interleaved(
        {s.name: s.sample for s in setups},
        args.epochs,
        lambda i: log(f"round {i + 1}/{args.epochs} done"),
    )
    cpu = monitor.report()
    markdown, payload = report(args, setups, samples, cpu)
    save_results("multidevice", "Benchmark: data-parallel scaling", markdown, payload, args.out_dir)


def report(
    args: argparse.Namespace,
    setups: list[Setup],
    samples: dict[str, list[float]],
    cpu: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Markdown table and the JSON payload."""
    device = jax.devices()[0]
    kind = "fake CPU devices sharing the host's cores" if not args.real_devices else "devices"
    parts = [
        f"`{args.env}`, depth {args.depth} width {args.width}, unroll {args.unroll}, "
        f"{args.sgd_steps} SGD steps per training step, {args.train_steps_per_epoch} training "
        f"steps per epoch; {device.platform} {kind} ({device.device_kind}). Strong scaling: "
        f"{args.num_envs} envs and batch {args.batch} in total; weak scaling: {args.num_envs} "
        f"envs and batch {args.batch} per device. Medians of {args.epochs} timed epochs, all "
        f"configurations interleaved, after one warm-up epoch each.",
        "",
        busy_note(cpu),
        "",
    ]
    rows, results = [], {}
    base: dict[str, float] = {}  # env steps/s at the smallest device count, per mode
    for s in setups:
        epoch_s = median(samples[s.name])
        env_sps = s.cfg.env_steps_per_epoch / epoch_s
        sgd_per_epoch = s.cfg.sgd_steps * s.cfg.train_steps_per_epoch
        samples_per_s = sgd_per_epoch * s.cfg.crl.batch_size / epoch_s
        if s.devices == COUNTS[0]:
            base[s.mode] = env_sps
        speedup = env_sps / base[s.mode]
        # Throughput per device relative to the smallest device count: 1.0 is ideal scaling.
        efficiency = speedup * COUNTS[0] / s.devices
        results[s.name] = {
            "mode": s.mode,
            "devices": s.devices,
            "num_envs": s.cfg.num_envs,
            "batch_size": s.cfg.crl.batch_size,
            "init_s": s.init_s,
            "compile_s": s.compile_s,
            "epoch_s_median": epoch_s,
            "epoch_s_samples": samples[s.name],
            "env_steps_per_s": env_sps,
            "sgd_samples_per_s": samples_per_s,
            "speedup": speedup,
            "scaling_efficiency": efficiency,
            "critic_loss_last": s.critic_loss,
        }
        rows.append(
            [
                s.mode,
                s.devices,
                f"{s.cfg.num_envs} / {s.cfg.num_envs // s.devices}",
                f"{s.cfg.crl.batch_size} / {s.cfg.crl.batch_size // s.devices}",
                fmt_s(s.compile_s),
                fmt_s(epoch_s),
                f"{env_sps:,.0f}",
                f"{samples_per_s:,.0f}",
                f"{speedup:.2f}x",
                f"{efficiency:.2f}",
            ]
        )
    headers = [
        "mode",
        "devices",
        "envs (total / per device)",
        "batch (total / per device)",
        "compile epoch",
        "epoch",
        "env steps/s",
        "SGD samples/s",
        "speed-up",
        "efficiency",
    ]
    parts.append(markdown_table(headers, rows))
    parts += [
        "",
        f"Speed-up = env steps/s relative to {COUNTS[0]} device(s) of the same mode; "
        f"efficiency = speed-up x {COUNTS[0]} / devices (1.0 is perfect scaling; for weak "
        f"scaling it equals epoch time at {COUNTS[0]} over epoch time at n). Weak scaling "
        f"grows the global batch n-fold, and the InfoNCE logits are (B/n) x B per device, so "
        f"per-device critic work grows with n: weak-scaling efficiency is below 1 by "
        f"construction, not only by communication.",
    ]
    payload = {
        "settings": {k: (str(x) if isinstance(x, Path) else x) for k, x in vars(args).items()},
        "cpu": cpu,
        "results": results,
    }
    return "\n".join(parts), payload


if __name__ == "__main__":
    main()
