"""Shared helpers of the benchmark scripts: interleaved timing, Markdown tables, result files.

Not a benchmark itself. Timings on a shared machine are noisy, so every script measures the
things it compares in the same process, interleaved round by round, and reports medians.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def block(x: Any) -> Any:
    """Wait for every array in ``x``; returns ``x``."""
    return jax.block_until_ready(x)


def log(msg: str) -> None:
    """Progress line on stderr (tables go to stdout)."""
    print(msg, file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of ``fn()`` (results blocked on) and its result."""
    start = time.perf_counter()
    out = block(fn())
    return time.perf_counter() - start, out


def interleaved(
    runners: dict[str, Callable[[], float]], rounds: int, on_round: Callable[[int], None] | None
) -> dict[str, list[float]]:
    """Call every runner once per round, in a rotating order; each returns one sample.

    Rotating the order spreads slow phases of a busy machine evenly over the runners.
    """
    names = list(runners)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(runners[name]())
        if on_round is not None:
            on_round(r)
    return samples


def fmt_s(seconds: float) -> str:
    """Seconds with a unit chosen for readability."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float | None) -> str:
    """Bytes as MiB / GiB."""
    if n is None:
        return "n/a"
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    return f"{n / 2**20:.1f} MiB"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub Markdown table."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def git_state() -> dict[str, Any]:
    """The repository's HEAD commit and whether src/ has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "src_dirty": None}
    return {"commit": head, "src_dirty": bool(dirty)}


def git_line(git: dict[str, Any]) -> str:
    """'src at commit abc1234' (+ ' with uncommitted changes')."""
    if git["commit"] is None:
        return "git state unknown"
    dirty = " with uncommitted changes" if git["src_dirty"] else ""
    return f"src at commit {git['commit'][:7]}{dirty}"


def machine_info() -> dict[str, Any]:
    """Device, core count, load average and package versions, for the result files."""
    device = jax.devices()[0]
    versions = {}
    for name in ("jax", "jaxlib", "flax", "optax"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {
        "platform": device.platform,
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "host": platform.node(),
        "python": platform.python_version(),
        "versions": versions,
        "loadavg_1_5_15": list(os.getloadavg()),
        "git": git_state(),
    }


def _busy_cpu_seconds() -> float | None:
    """CPU seconds all processes spent non-idle since boot (Linux /proc/stat), else None."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class CpuMonitor:
    """How much CPU other processes used while a benchmark ran (a contention measure)."""

    def __init__(self) -> None:
        """Start measuring now."""
        self._wall = time.perf_counter()
        self._busy = _busy_cpu_seconds()
        own = os.times()
        self._own = own.user + own.system
        self._load = os.getloadavg()[0]

    def report(self) -> dict[str, Any]:
        """Wall seconds, own and other CPU seconds, and the average cores others used."""
        wall = time.perf_counter() - self._wall
        own = os.times()
        own_s = own.user + own.system - self._own
        busy = _busy_cpu_seconds()
        other_s = None if busy is None or self._busy is None else busy - self._busy - own_s
        return {
            "wall_s": wall,
            "own_cpu_s": own_s,
            "other_cpu_s": other_s,
            "other_cores_avg": None if other_s is None else max(other_s, 0.0) / wall,
            "cpu_count": os.cpu_count(),
            "loadavg_1min_start": self._load,
            "loadavg_1min_end": os.getloadavg()[0],
        }


def busy_note(cpu: dict[str, Any]) -> str:
    """One line on how busy the machine was while the benchmark ran."""
    cores = cpu["cpu_count"]
    other = cpu["other_cores_avg"]
    others = "n/a" if other is None else f"{other:.2f}"
    verdict = (
        "unknown"
        if other is None
        else "busy: absolute times are inflated, interleaved ratios stay comparable"
        if other > 0.25
        else "quiet"
    )
    return (
        f"Machine load: {cpu['wall_s']:.0f} s wall; this process used "
        f"{cpu['own_cpu_s']:.0f} CPU-s, other processes {others} cores on average out of "
        f"{cores} (1-min load {cpu['loadavg_1min_start']:.2f} -> "
        f"{cpu['loadavg_1min_end']:.2f}): {verdict}."
    )


def save_results(
    name: str, title: str, markdown: str, payload: dict[str, Any], out_dir: Path | None
) -> tuple[Path, Path]:
    """Print the Markdown, write ``<name>.json`` and ``<name>.md`` to the results directory,
    log where they went; return both paths."""
    print(markdown)
    out = RESULTS_DIR if out_dir is None else out_dir
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().isoformat(timespec="seconds")
    machine = machine_info()
    payload = {"benchmark": name, "date": stamp, "machine": machine, **payload}
    json_path = out / f"{name}.json"
    md_path = out / f"{name}.md"
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    header = (
        f"# {title}\n\n"
        f"Generated by `benchmarks/{name}.py` on {stamp}: {machine['platform']} "
        f"({machine['device_kind']}), {machine['cpu_count']} CPU cores, jax "
        f"{machine['versions']['jax']}, {git_line(machine['git'])}.\n\n"
    )
    md_path.write_text(header + markdown.rstrip() + "\n")
    log(f"wrote {json_path} and {md_path}")
    return json_path, md_path
