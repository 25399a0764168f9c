"""`deepcrl report SWEEP_DIR`: tables and figures of a sweep as Markdown and HTML.

Reads sweep.json and each point's run directory (config.json, metrics.jsonl, done.json).
Scores follow deepcrl.stats: a run's score is the mean of its last 5 evaluations; a group's
is the mean ± standard error over its seeds (plus the IQM with a bootstrap CI from 5 seeds).
Only finished runs (done.json) are scored; learning curves also show unfinished ones.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepcrl.config import ConfigError
from deepcrl.costs import format_flops, format_seconds
from deepcrl.stats import Aggregate, aggregate, run_score

METRICS = {"time_at_goal": "eval/time_at_goal", "success_rate": "eval/success_rate"}
"""Score name -> metrics.jsonl key."""


@dataclass
class RunData:
    """One point of the sweep as found on disk."""

    name: str
    group: str
    coords: dict[str, Any]
    plan: dict[str, Any]
    records: list[dict[str, Any]]
    done: dict[str, Any] | None

    def score(self, metric: str) -> float:
        """Mean of the last 5 evaluations of ``metric`` (time_at_goal or success_rate)."""
        return run_score(self.records, METRICS[metric])


@dataclass
class GroupData:
    """The seeds of one configuration."""

    name: str
    coords: dict[str, Any]
    """Coordinates shared by the seeds (seed removed)."""
    plan: dict[str, Any]
    runs: list[RunData] = field(default_factory=list)

    @property
    def finished(self) -> list[RunData]:
        """Runs that wrote done.json."""
        return [r for r in self.runs if r.done is not None]

    def score(self, metric: str) -> Aggregate:
        """Across finished seeds: mean ± se (IQM + bootstrap CI from 5 seeds)."""
        return aggregate([r.score(metric) for r in self.finished])


@dataclass
class SweepData:
    """Everything the report shows."""

    sweep_dir: Path
    spec: dict[str, Any]
    device: str
    groups: list[GroupData]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            break  # a run killed mid-write leaves a partial last line
    return out


def load_sweep(sweep_dir: Path) -> SweepData:
    """Read sweep.json and every point's metrics; ConfigError if it is not a sweep directory."""
    path = sweep_dir / "sweep.json"
    if not path.is_file():
        raise ConfigError(f"{sweep_dir} has no sweep.json: pass a directory made by deepcrl sweep")
    try:
        plan = json.loads(path.read_text())
    except ValueError as err:
        raise ConfigError(f"{path} is not valid JSON ({err})") from err
    groups: dict[str, GroupData] = {}
    for p in plan["points"]:
        run_dir = sweep_dir / p["name"]
        done_path = run_dir / "done.json"
        run = RunData(
            name=p["name"],
            group=p["group"],
            coords=p["coords"],
            plan=p,
            records=_read_jsonl(run_dir / "metrics.jsonl"),
            done=json.loads(done_path.read_text()) if done_path.is_file() else None,
        )
        coords = {k: v for k, v in p["coords"].items() if k != "seed"}
        groups.setdefault(p["group"], GroupData(p["group"], coords, p)).runs.append(run)
    return SweepData(sweep_dir, plan["spec"], plan.get("device", "?"), list(groups.values()))


# ---- document model: blocks rendered to Markdown and to HTML ------------------------------


@dataclass
class Doc:
    """An ordered list of blocks, rendered to Markdown or HTML."""

    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        """Add a heading."""
        self.blocks.append(("h", (level, text)))

    def para(self, text: str) -> None:
        """Add a paragraph (plain text, `code` allowed)."""
        self.blocks.append(("p", text))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Add a table."""
        self.blocks.append(("table", (list(headers), [[str(c) for c in r] for r in rows])))

    def image(self, path: str, alt: str) -> None:
        """Add an image (path relative to the report)."""
        self.blocks.append(("img", (path, alt)))

    def markdown(self) -> str:
        """GitHub Markdown."""
        out = []
        for kind, value in self.blocks:
            if kind == "h":
                out.append("#" * value[0] + " " + value[1])
            elif kind == "p":
                out.append(value)
            elif kind == "table":
                headers, rows = value
                lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
                lines += ["| " + " | ".join(r) + " |" for r in rows]
                out.append("\n".join(lines))
            else:
                out.append(f"![{value[1]}]({value[0]})")
        return "\n\n".join(out) + "\n"

    def html(self, title: str) -> str:
        """A standalone HTML page."""
        esc = html.escape

        def inline(text: str) -> str:
            parts = esc(text).split("`")
            return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))

        body = []
        for kind, value in self.blocks:
            if kind == "h":
                body.append(f"<h{value[0]}>{esc(value[1])}</h{value[0]}>")
            elif kind == "p":
                body.append(f"<p>{inline(value)}</p>")
            elif kind == "table":
                headers, rows = value
                head = "".join(f"<th>{esc(h)}</th>" for h in headers)
                cells = "".join(
                    "<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in rows
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            else:
                body.append(f'<p><img src="{esc(value[0])}" alt="{esc(value[1])}"></p>')
        style = (
            "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;"
            "padding:3px 7px;text-align:right}img{max-width:100%}"
        )
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
        )


# ---- figures ------------------------------------------------------------------------------


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _errorbar_series(
    ax: Any, groups: list[GroupData], x: Callable[[GroupData], float], metric: str, label: str
) -> None:
    pts = sorted((x(g), g.score(metric)) for g in groups if g.finished)
    if not pts:
        return
    xs = [p[0] for p in pts]
    means = [p[1].mean for p in pts]
    ses = [0.0 if math.isnan(p[1].se) else p[1].se for p in pts]
    ax.errorbar(xs, means, yerr=ses, marker="o", capsize=3, label=label)


def _by(groups: list[GroupData], key: str) -> dict[Any, list[GroupData]]:
    out: dict[Any, list[GroupData]] = {}
    for g in groups:
        out.setdefault(g.coords[key], []).append(g)
    return out


def _distinct(groups: list[GroupData], key: str) -> list[Any]:
    return sorted({g.coords[key] for g in groups}, key=lambda v: (str(type(v)), v))


def _base(spec: dict[str, Any]) -> dict[str, Any]:
    """Base coordinates of the sweep (the values an axis takes when it is not swept)."""
    base = spec["base"]
    net = base["network"]
    return {
        "depth": net["depth"],
        "width": net["width"],
        "batch_size": base["crl"]["batch_size"],
    }


def _uniform_depth(g: GroupData) -> bool:
    c = g.coords
    return c["actor_depth"] == c["depth"] == c["critic_depth"] or (
        c["critic_depth"] == c["depth"] and c["actor_depth"] < c["depth"]
    )


def fig_score_vs_depth(data: SweepData, out: Path) -> bool:
    """Score vs depth: one panel per metric, a line per env x ablation (x width, batch)."""
    groups = [g for g in data.groups if _uniform_depth(g)]
    if len(_distinct(groups, "depth")) < 2:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    lines: dict[tuple, list[GroupData]] = {}
    for g in groups:
        c = g.coords
        lines.setdefault((c["env"], c["ablation"], c["width"], c["batch_size"]), []).append(g)
    for metric, ax in zip(METRICS, axes, strict=True):
        for (env, abl, width, batch), gs in lines.items():
            if len({g.coords["depth"] for g in gs}) < 2:
                continue
            label = f"{env}" + ("" if abl == "none" else f" {abl}") + f" w{width} b{batch}"
            _errorbar_series(ax, gs, lambda g: g.coords["depth"], metric, label)
        ax.set_xscale("log", base=2)
        depths = _distinct(groups, "depth")
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.minorticks_off()
        ax.set_ylim(bottom=0)
        ax.set_xlabel("depth (Dense layers in residual blocks)")
        ax.set_ylabel(metric.replace("_", " ") + " (mean ± se over seeds)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def fig_depth_vs_width_params(data: SweepData, out: Path) -> bool:
    """Time at goal vs total parameters: depth scaling (left) and width scaling (right)."""
    if len(_distinct(data.groups, "width")) < 2 or len(_distinct(data.groups, "depth")) < 2:
        return False
    base = _base(data.spec)
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, sharex=True)
    params = lambda g: float(g.plan["params"]["total"])
    for env, gs in _by(data.groups, "env").items():
        plain = [g for g in gs if g.coords["ablation"] == "none" and _uniform_depth(g)]
        by_depth = [g for g in plain if g.coords["width"] == base["width"]]
        by_width = [g for g in plain if g.coords["depth"] == base["depth"]]
        _errorbar_series(axes[0], by_depth, params, "time_at_goal", f"{env}: depth varies")
        _errorbar_series(axes[1], by_width, params, "time_at_goal", f"{env}: width varies")
    axes[0].set_title(f"depth scaling (width {base['width']})")
    axes[1].set_title(f"width scaling (depth {base['depth']})")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("parameters (actor + both critic encoders)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("time at goal (mean ± se)")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def fig_heatmap(data: SweepData, row: str, col: str, out: Path) -> bool:
    """Time at goal over a (row, col) grid, one panel per env."""
    # Both axes must vary independently (not only together, as depth moves actor and critic).
    envs = [
        (env, gs)
        for env, gs in _by(data.groups, "env").items()
        if len({(g.coords[row], g.coords[col]) for g in gs})
        > max(len(_distinct(gs, row)), len(_distinct(gs, col)))
    ]
    if not envs:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(envs), figsize=(4.5 * len(envs), 4), squeeze=False)
    for ax, (env, gs) in zip(axes[0], envs, strict=True):
        rows, cols = _distinct(gs, row), _distinct(gs, col)
        grid = np.full((len(rows), len(cols)), np.nan)
        for g in gs:
            if g.finished:
                grid[rows.index(g.coords[row]), cols.index(g.coords[col])] = g.score(
                    "time_at_goal"
                ).mean
        im = ax.imshow(grid, origin="lower", cmap="viridis")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if not np.isnan(grid[i, j]):
                    ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", color="w")
        ax.set_xticks(range(len(cols)), [str(c) for c in cols])
        ax.set_yticks(range(len(rows)), [str(r) for r in rows])
        ax.set_xlabel(col.replace("_", " "))
        ax.set_ylabel(row.replace("_", " "))
        ax.set_title(f"{env}: time at goal")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def fig_learning_curves(data: SweepData, out: Path) -> bool:
    """Time at goal and success rate vs env steps, a row per env: mean over seeds, ± se."""
    by_env = {
        env: [g for g in gs if any(r.records for r in g.runs)]
        for env, gs in _by(data.groups, "env").items()
    }
    by_env = {env: gs for env, gs in by_env.items() if gs}
    if not by_env:
        return False
    plt = _plt()
    fig, axes = plt.subplots(len(by_env), 2, figsize=(11, 4 * len(by_env)), squeeze=False)
    for row, (env, groups) in zip(axes, by_env.items(), strict=True):
        for g in groups:
            curves = [r.records for r in g.runs if r.records]
            n = min(len(c) for c in curves)
            steps = np.array([c["env_steps"] for c in curves[0][:n]], dtype=float) / 1e6
            for metric, ax in zip(METRICS.values(), row, strict=True):
                y = np.array([[float(r[metric]) for r in c[:n]] for c in curves])
                mean = y.mean(axis=0)
                se = y.std(axis=0, ddof=1) / math.sqrt(len(y)) if len(y) > 1 else 0 * mean
                ax.plot(steps, mean, label=f"{g.name} ({len(y)} seeds)")
                ax.fill_between(steps, mean - se, mean + se, alpha=0.2)
        for metric, ax in zip(METRICS, row, strict=True):
            ax.set_ylim(bottom=0)
            ax.set_xlabel("env steps (millions)")
            ax.set_ylabel(f"{env}: " + metric.replace("_", " "))
            ax.grid(alpha=0.3)
        row[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


# ---- the report ---------------------------------------------------------------------------


def _mib(n: Any) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.0f} MiB"


def _depth_comparison(data: SweepData) -> list[str]:
    """Deepest vs shallowest at otherwise equal settings, per env: difference ± se."""
    out = []
    for (env, abl, width, batch), gs in _lines(data).items():
        gs = [g for g in gs if g.finished]
        if len({g.coords["depth"] for g in gs}) < 2:
            continue
        lo = min(gs, key=lambda g: g.coords["depth"])
        hi = max(gs, key=lambda g: g.coords["depth"])
        for metric in METRICS:
            a, b = lo.score(metric), hi.score(metric)
            se = math.sqrt(np.nan_to_num(a.se) ** 2 + np.nan_to_num(b.se) ** 2)
            out.append(
                f"{env} (w{width}, b{batch}{'' if abl == 'none' else ', ' + abl}): "
                f"{metric.replace('_', ' ')} at depth {hi.coords['depth']} = {b.mean:.3g} vs "
                f"depth {lo.coords['depth']} = {a.mean:.3g}: difference {b.mean - a.mean:+.3g} "
                f"± {se:.2g} (n = {b.n} vs {a.n} seeds)."
            )
    return out


def _lines(data: SweepData) -> dict[tuple, list[GroupData]]:
    lines: dict[tuple, list[GroupData]] = {}
    for g in data.groups:
        if _uniform_depth(g):
            c = g.coords
            key = (c["env"], c["ablation"], c["width"], c["batch_size"])
            lines.setdefault(key, []).append(g)
    return lines


def build_report(data: SweepData, out_dir: Path, title: str | None = None) -> Doc:
    """Write the figures into ``out_dir`` and return the document referring to them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    spec, base = data.spec, data.spec["base"]
    title = title or f"Sweep report: {spec.get('preset') or data.sweep_dir.name}"
    doc = Doc()
    doc.heading(title, 1)
    runs = [r for g in data.groups for r in g.runs]
    finished = [r for r in runs if r.done is not None]
    axes = [
        f"{k} {list(v)}"
        for k, v in spec.items()
        if k
        in ("envs", "depths", "widths", "batch_sizes", "actor_depths", "critic_depths", "ablations")
        and v is not None
    ]
    doc.para(
        f"Sweep `{data.sweep_dir}`: {len(finished)} of {len(runs)} runs finished, "
        f"{len(data.groups)} configurations, seeds {list(spec['seeds'])}, {spec['grid']} grid "
        f"over {', '.join(axes) or 'no axes'}; planned on {data.device}. Base settings: "
        f"`{base['env']}`, {base['total_env_steps']:,} env steps in {base['num_epochs']} epochs "
        f"({base['num_envs']} envs x {base['unroll_length']} steps and {base['sgd_steps']} SGD "
        f"steps of batch {base['crl']['batch_size']} per training step), depth "
        f"{base['network']['depth']}, width {base['network']['width']}; each evaluation runs "
        f"{base['num_eval_envs']} episodes on `{base['eval_env'] or base['env']}`."
    )
    doc.para(
        "Score = mean of a run's last 5 evaluations; across seeds mean ± standard error, and "
        "with 5+ seeds the interquartile mean with a 95% bootstrap interval "
        "(`IQM x [lo, hi]`). Time at goal counts steps within the success radius out of the "
        "episode; success rate is the fraction of episodes that reached it."
    )
    rows = []
    for g in data.groups:
        c, p = g.coords, g.plan
        walls = [r.done["wall_s"] for r in g.finished if r.done]
        hosts = [r.done.get("host_peak_bytes") for r in g.finished if r.done]
        devs = [r.done.get("device_peak_bytes") for r in g.finished if r.done]
        per_proc = [r.done.get("seeds_in_process", 1) for r in g.finished if r.done]
        rows.append(
            [
                g.name,
                c["depth"],
                c["width"],
                c["batch_size"],
                f"{c['actor_depth']}/{c['critic_depth']}",
                c["ablation"],
                f"{p['params']['total']:,}",
                format_flops(p["flops_per_sgd_step"]),
                f"{len(g.finished)}/{len(g.runs)}",
                g.score("time_at_goal").text() if g.finished else "-",
                g.score("success_rate").text() if g.finished else "-",
                format_seconds(max(walls)) + f" ({max(per_proc)} seeds)" if walls else "-",
                _mib(max((h for h in hosts if h is not None), default=None)),
                _mib(max((d for d in devs if d is not None), default=None)),
            ]
        )
    doc.heading("Results per configuration")
    doc.table(
        [
            "configuration",
            "depth",
            "width",
            "batch",
            "actor/critic depth",
            "ablation",
            "params",
            "FLOP / SGD step",
            "seeds done",
            "time at goal",
            "success rate",
            "wall clock (process)",
            "peak host memory",
            "peak device memory",
        ],
        rows,
    )
    doc.para(
        "Wall clock and peak memory are per process: the seeds of a configuration train "
        "vmapped in one process, so they share both (the seed count is in brackets). FLOPs "
        "count the matrix products of one SGD step (actor + critic, forward and backward; "
        "see `deepcrl.costs`)."
    )
    comparison = _depth_comparison(data)
    figures: list[tuple[str, str, Callable[[Path], bool]]] = [
        ("Score vs depth", "score_vs_depth.png", lambda p: fig_score_vs_depth(data, p)),
        (
            "Score vs parameters: depth vs width",
            "params_depth_vs_width.png",
            lambda p: fig_depth_vs_width_params(data, p),
        ),
        (
            "Batch size x depth",
            "heatmap_batch_depth.png",
            lambda p: fig_heatmap(data, "batch_size", "depth", p),
        ),
        (
            "Actor depth x critic depth",
            "heatmap_actor_critic.png",
            lambda p: fig_heatmap(data, "actor_depth", "critic_depth", p),
        ),
        ("Learning curves", "learning_curves.png", lambda p: fig_learning_curves(data, p)),
    ]
    for heading, filename, draw in figures:
        if draw(out_dir / filename):
            doc.heading(heading)
            doc.image(filename, heading)
            if filename == "score_vs_depth.png":
                for line in comparison:
                    doc.para(line)
    return doc


def write_report(sweep_dir: Path, out_dir: Path | None = None, title: str | None = None) -> Path:
    """Write report.md, report.html and the figures; returns the Markdown path."""
    data = load_sweep(sweep_dir)
    out = out_dir or sweep_dir / "report"
    doc = build_report(data, out, title)
    md = out / "report.md"
    md.write_text(doc.markdown())
    first = doc.blocks[0][1][1] if doc.blocks else "report"
    (out / "report.html").write_text(doc.html(first))
    return md
