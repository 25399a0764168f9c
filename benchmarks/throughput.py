"""Training throughput: env steps/s and SGD steps/s of real training epochs, by depth.

Builds the real trainer (``deepcrl.training.make_trainer``) on a point-mass maze
(``deepcrl.envs.make("point_u_maze")`` by default) for each depth, runs ``init`` (compile +
prefill), compiles ``train_epoch`` with the training state donated (as ``deepcrl train``
does), runs one warm-up epoch, then times epochs for all depths interleaved round by round.
An epoch is ``--train-steps-per-epoch`` training steps, each = collect ``num_envs x unroll``
env steps with the stochastic policy, insert into the replay buffer, sample and relabel,
then ``--sgd-steps`` SGD steps (actor + alpha + critic). Reported per depth: compile time,
median env steps/s and SGD steps/s over the timed epochs (both include all of the above).

Run (about 3-5 minutes on 2 CPU cores; results go to benchmarks/results/throughput.{md,json}):

    .venv/bin/python benchmarks/throughput.py
    .venv/bin/python benchmarks/throughput.py --quick             # depths 4,16, tiny schedule
    .venv/bin/python benchmarks/throughput.py --depths 4,16,64 --epochs 3
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Any

import jax

from _common import (
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
from deepcrl import envs
from deepcrl.agents.crl import param_counts
from deepcrl.config import CRLConfig, NetworkConfig, TrainConfig
from deepcrl.training import make_trainer


class DepthRun:
    """One depth: its trainer, compiled epoch and the live (donated) training state."""

    def __init__(self, args: argparse.Namespace, depth: int) -> None:
        """Build the trainer, run init, compile train_epoch and run one warm-up epoch."""
        self.depth = depth
        env = envs.make(args.env)
        steps_per_epoch = args.train_steps_per_epoch * args.num_envs * args.unroll
        cfg = TrainConfig(
            env=args.env,
            num_envs=args.num_envs,
            unroll_length=args.unroll,
            sgd_steps=args.sgd_steps,
            num_epochs=args.epochs + 1,
            total_env_steps=(args.epochs + 1) * steps_per_epoch,
            network=NetworkConfig(depth=depth, width=args.width),
            crl=CRLConfig(batch_size=args.batch),
            seed=args.seed,
        )
        self.trainer = make_trainer(cfg, env)
        self.cfg = self.trainer.cfg  # episode length resolved
        key = jax.random.PRNGKey(args.seed)
        self.init_s, self.ts = timed(lambda: jax.jit(self.trainer.init)(key))
        self.params = param_counts(self.ts.agent)["total"]
        t0 = time.perf_counter()
        self.epoch_fn = jax.jit(self.trainer.train_epoch, donate_argnums=0).lower(self.ts).compile()
        self.compile_s = time.perf_counter() - t0
        self._last_metrics: dict[str, jax.Array] = {}
        self.warmup_s, _ = timed(self.run_epoch)
        self.metrics: dict[str, float] = {}

    def run_epoch(self) -> Any:
        """One epoch; keeps the new state and the (averaged) training metrics."""
        self.ts, metrics = self.epoch_fn(self.ts)
        self._last_metrics = metrics
        return self.ts

    def sample(self) -> float:
        """Seconds of one epoch."""
        seconds, _ = timed(self.run_epoch)
        self.metrics = {k: float(v) for k, v in self._last_metrics.items()}
        return seconds


def main() -> None:
    """Time the depths interleaved and write the result files."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--depths", default="4,64", help="network depths (actor and critics)")
    p.add_argument("--env", default="point_u_maze", help="registered task name")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--num-envs", type=int, default=128)
    p.add_argument("--unroll", type=int, default=25, help="env steps per env per train step")
    p.add_argument("--sgd-steps", type=int, default=16, help="SGD steps per training step")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--train-steps-per-epoch", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per depth (interleaved)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="depths 4,16; 3 timed epochs")
    p.add_argument("--out-dir", type=Path, default=None, help="default benchmarks/results")
    args = p.parse_args()
    if args.quick:
        args.depths, args.epochs = "4,16", 3
    depths = [int(d) for d in args.depths.split(",") if d.strip()]
    monitor = CpuMonitor()
    runs = []
    for d in depths:
        run = DepthRun(args, d)
        runs.append(run)
        log(
            f"depth {d}: init {run.init_s:.1f}s, compile {run.compile_s:.1f}s, "
            f"warm-up epoch {run.warmup_s:.1f}s"
        )
    samples = interleaved(
        {f"d{r.depth}": r.sample for r in runs},
        args.epochs,
        lambda i: log(f"epoch round {i + 1}/{args.epochs} done"),
    )
    cpu = monitor.report()
    markdown, payload = report(args, runs, samples, cpu)
    save_results(
        "throughput", "Benchmark: training throughput vs depth", markdown, payload, args.out_dir
    )


def report(
    args: argparse.Namespace,
    runs: list[DepthRun],
    samples: dict[str, list[float]],
    cpu: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Markdown table and the JSON payload."""
    cfg = runs[0].cfg
    env_per_epoch = cfg.env_steps_per_epoch
    sgd_per_epoch = cfg.sgd_steps * cfg.train_steps_per_epoch
    parts = [
        f"`{args.env}` (episode length {cfg.resolved_episode_length}), {cfg.num_envs} envs x "
        f"unroll {cfg.unroll_length} = {cfg.env_steps_per_train_step:,} env steps and "
        f"{cfg.sgd_steps} SGD steps (batch {cfg.crl.batch_size}) per training step, "
        f"{cfg.train_steps_per_epoch} training steps per epoch ({env_per_epoch:,} env steps, "
        f"{sgd_per_epoch} SGD steps); width {args.width}; update-to-data "
        f"{cfg.update_to_data_ratio:.2f}. Medians of {args.epochs} timed epochs per depth, "
        f"depths interleaved, after one warm-up epoch.",
        "",
        busy_note(cpu),
        "",
    ]
    rows = []
    per_depth: dict[str, Any] = {}
    for r in runs:
        epoch_s = median(samples[f"d{r.depth}"])
        finite = all(math.isfinite(v) for v in r.metrics.values())
        per_depth[str(r.depth)] = {
            "params": r.params,
            "init_s": r.init_s,
            "compile_s": r.compile_s,
            "warmup_epoch_s": r.warmup_s,
            "epoch_s_median": epoch_s,
            "epoch_s_samples": samples[f"d{r.depth}"],
            "env_steps_per_s": env_per_epoch / epoch_s,
            "sgd_steps_per_s": sgd_per_epoch / epoch_s,
            "last_epoch_metrics": r.metrics,
            "metrics_finite": finite,
        }
        rows.append(
            [
                r.depth,
                f"{r.params / 1e6:.2f}M",
                fmt_s(r.init_s),
                fmt_s(r.compile_s),
                fmt_s(epoch_s),
                f"{env_per_epoch / epoch_s:,.0f}",
                f"{sgd_per_epoch / epoch_s:.1f}",
                f"{1e3 * epoch_s / sgd_per_epoch:.0f} ms",
                "yes" if finite else "NO",
            ]
        )
    headers = [
        "depth",
        "params",
        "init (compile + prefill)",
        "compile train_epoch",
        "epoch",
        "env steps/s",
        "SGD steps/s",
        "epoch time / SGD step",
        "metrics finite",
    ]
    parts.append(markdown_table(headers, rows))
    if len(runs) > 1:
        a, b = runs[0], runs[-1]
        slow = median(samples[f"d{b.depth}"]) / median(samples[f"d{a.depth}"])
        parts += [
            "",
            f"Depth {b.depth} epochs take {slow:.1f}x as long as depth {a.depth}; compile "
            f"{b.compile_s / a.compile_s:.2f}x.",
        ]
    metrics = {k: v for k, v in runs[-1].metrics.items() if not k.startswith("buffer/")}
    shown = ", ".join(f"{k} {v:.3g}" for k, v in sorted(metrics.items())[:6])
    parts += ["", f"Last epoch metrics at depth {runs[-1].depth} (sanity): {shown}."]
    payload = {
        "settings": {k: (str(x) if isinstance(x, Path) else x) for k, x in vars(args).items()},
        "schedule": {
            "episode_length": cfg.resolved_episode_length,
            "env_steps_per_epoch": env_per_epoch,
            "sgd_steps_per_epoch": sgd_per_epoch,
            "update_to_data_ratio": cfg.update_to_data_ratio,
        },
        "cpu": cpu,
        "depths": per_depth,
    }
    return "\n".join(parts), payload


if __name__ == "__main__":
    main()
