"""Plot a run's learning curve (success rate and time at goal vs wall clock and env steps).

Usage:
    .venv/bin/deepcrl train --run-dir runs/default          # the default job
    .venv/bin/python benchmarks/learning_curve.py runs/default --out docs/default_learning_curve.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    """Read metrics.jsonl of one or more runs and write a two-panel PNG."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("learning_curve.png"))
    args = parser.parse_args()
    fig, (ax_time, ax_steps) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for run_dir in args.run_dirs:
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        records = [json.loads(line) for line in lines]
        config = json.loads((run_dir / "config.json").read_text())
        label = f"{config['config']['env']} depth {config['config']['network']['depth']}"
        wall = [r["time/wall_s"] / 60 for r in records]
        steps = [r["env_steps"] / 1e6 for r in records]
        success = [r["eval/success_rate"] for r in records]
        ax_time.plot(wall, success, marker="o", label=label)
        ax_steps.plot(steps, success, marker="o", label=label)
    ax_time.set_xlabel("wall clock (min, compile included)")
    ax_steps.set_xlabel("env steps (millions)")
    ax_time.set_ylabel("eval success rate")
    for ax in (ax_time, ax_steps):
        ax.axhline(0.9, color="grey", ls="--", lw=0.8)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    ax_steps.legend(loc="lower right")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
