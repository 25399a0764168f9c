"""The `deepcrl sweep`, `report` and `presets` subcommands (wired into cli.py)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import tyro

from deepcrl.costs import format_seconds
from deepcrl.sweep import SweepSpec

SweepArgs = Annotated[SweepSpec, tyro.conf.OmitArgPrefixes]


def make_sweep_command(default: SweepSpec) -> Callable[..., None]:
    """The sweep subcommand with ``default`` (a preset's spec) as every flag's default."""

    def sweep(spec: SweepArgs = default) -> None:
        """Run a scaling sweep (a grid of runs; rerun the same command to resume)."""
        from deepcrl.sweep import prepare_parent_process, run_sweep

        prepare_parent_process(spec)
        result = run_sweep(spec)
        if result.failed:
            print(
                f"deepcrl: error: {len(result.failed)} runs failed: "
                + ", ".join(result.failed)
                + " (see error.txt in each)",
                file=sys.stderr,
            )
            sys.exit(1)

    return sweep


def report(
    sweep_dir: tyro.conf.Positional[Path], out: Path | None = None, title: str | None = None
) -> None:
    """Write a Markdown and HTML report of a sweep (tables, scaling plots, learning curves).

    Args:
        sweep_dir: Directory written by `deepcrl sweep`.
        out: Output directory (default SWEEP_DIR/report).
        title: Report title (default from the preset or directory name).
    """
    from deepcrl.report import write_report

    path = write_report(sweep_dir, out, title)
    print(f"wrote {path} and {path.with_suffix('.html')}")


def presets() -> None:
    """List the named sweeps with the paper's results and their estimated GPU hours."""
    from deepcrl.presets import PRESETS, preset_spec
    from deepcrl.sweep import estimated_hours, make_plan

    for name, preset in PRESETS.items():
        plan = make_plan(preset_spec(name), device="gpu")
        hours = estimated_hours(plan, "gpu")
        cost = f"{hours:,.0f} GPU h" if hours >= 1 else format_seconds(hours * 3600) + " on a GPU"
        if name.startswith("cpu"):
            cpu = estimated_hours(plan, "cpu") * 3600
            cost += f", about {format_seconds(cpu)} on a 2-core CPU"
        print(f"{name:<16} {preset.description}")
        print(f"{'':<16} {len(plan.points)} runs, about {cost}")
        print(f"{'':<16} paper: {preset.paper}")


def with_preset_defaults(
    commands: dict[str, Callable[..., None]], argv: Sequence[str]
) -> dict[str, Callable[..., None]]:
    """Commands with `sweep` defaulting to the spec of `--preset NAME` when argv names one."""
    from deepcrl.presets import preset_spec

    name = None
    if argv and argv[0] == "sweep":
        for i, arg in enumerate(argv):
            if arg == "--preset" and i + 1 < len(argv):
                name = argv[i + 1]
            elif arg.startswith("--preset="):
                name = arg.split("=", 1)[1]
    default = SweepSpec() if name in (None, "None") else preset_spec(name)
    return {**commands, "sweep": make_sweep_command(default)}


SWEEP_COMMANDS: dict[str, Callable[..., None]] = {
    "sweep": make_sweep_command(SweepSpec()),
    "report": report,
    "presets": presets,
}
"""Subcommands this module adds to the CLI."""
