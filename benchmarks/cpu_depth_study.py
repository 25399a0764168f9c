"""The CPU-scale depth study: depth 4 vs 16 on the point-mass U-maze, 5 seeds, then a report.

Runs the `cpu_depth` preset (about 40 minutes on a quiet 2-core CPU by the plan's estimate),
then writes the report to docs/cpu_depth_study/. Rerunning resumes: finished runs are kept.

Usage:
    .venv/bin/python benchmarks/cpu_depth_study.py                  # the study (~40 min)
    .venv/bin/python benchmarks/cpu_depth_study.py --smoke          # plumbing check (~2 min)
    .venv/bin/python benchmarks/cpu_depth_study.py --dry-run        # print the plan only
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deepcrl.cli import main as deepcrl

ROOT = Path(__file__).resolve().parent.parent
SMOKE = [
    "--seeds", "0", "1",
    "--num-envs", "32",
    "--total-env-steps", "9600",
    "--num-epochs", "3",
    "--sgd-steps", "4",
    "--num-eval-envs", "16",
    "--prefill-steps", "100",
]  # fmt: skip
"""Overrides of the smoke run: 3 short epochs, 2 seeds, same code path."""


def main() -> None:
    """Run (or resume) the sweep, then write its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny version, output to runs/")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")
    args = parser.parse_args()
    name = "cpu_depth_smoke" if args.smoke else "cpu_depth"
    sweep_dir = ROOT / "runs" / "sweeps" / name
    out = ROOT / "runs" / "sweeps" / name / "report" if args.smoke else ROOT / "docs" / name
    argv = ["sweep", "--preset", "cpu_depth", "--sweep-dir", str(sweep_dir)]
    argv += SMOKE if args.smoke else []
    argv += ["--dry-run"] if args.dry_run else []
    deepcrl(argv)
    if not args.dry_run:
        title = "CPU depth study: depth 4 vs 16 on the point-mass U-maze"
        deepcrl(["report", str(sweep_dir), "--out", str(out), "--title", title])


if __name__ == "__main__":
    main()
