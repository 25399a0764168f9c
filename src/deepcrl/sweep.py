"""Scaling sweeps: expand a grid into points, plan their cost, run them resumably.

A sweep directory holds ``sweep.json`` (the spec and the planned points) and one normal run
directory per point (``config.json``, ``metrics.jsonl``) plus ``done.json``, written
atomically when the run finished all its epochs; rerunning the same command skips points
with a ``done.json`` and restarts the others. Points that differ only in their seed are
one *group*: its seeds train as one vmapped program in one process (as many as fit
``--memory-budget-gb``), and every seed still gets its own run directory with exactly the
numbers a separate ``deepcrl train --seed S`` would log.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import multiprocessing
import os
import resource
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from deepcrl.config import ConfigError, TrainConfig
from deepcrl.costs import (
    Device,
    RunCost,
    current_device,
    format_flops,
    format_seconds,
    run_cost,
    task_dims,
)
from deepcrl.logging import Record

Ablation = Literal["none", "no_residual", "no_layer_norm", "relu"]
GridMode = Literal["product", "star"]

SWEEP_FILE = "sweep.json"
DONE_FILE = "done.json"
ERROR_FILE = "error.txt"

ABLATIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "no_residual": {"residual": False},
    "no_layer_norm": {"layer_norm": False},
    "relu": {"activation": "relu"},
}
"""Network switches each named ablation turns off (FACTS.md section 2)."""


@dataclass(frozen=True)
class SweepSpec:
    """A grid of training runs: every axis given is swept, the rest come from the base flags."""

    base: TrainConfig = field(default_factory=TrainConfig)
    """Settings shared by every point (every `deepcrl train` flag; --seed is replaced by
    --seeds)."""
    preset: str | None = None
    """Named experiment providing the defaults of every other flag (see `deepcrl presets`)."""
    sweep_dir: Path | None = None
    """Where sweep.json and the run directories go; default runs/sweeps/<preset>, else
    runs/sweeps/<env>-<swept axes> (rerunning the same command resumes)."""
    envs: tuple[str, ...] | None = None
    """Tasks to sweep (default: --env)."""
    depths: tuple[int, ...] | None = None
    """Depths to sweep (actor and critic alike unless --actor-depths/--critic-depths)."""
    widths: tuple[int, ...] | None = None
    """Widths to sweep."""
    batch_sizes: tuple[int, ...] | None = None
    """Batch sizes to sweep."""
    actor_depths: tuple[int, ...] | None = None
    """Actor depths to sweep (with --critic-depths: the actor x critic grid)."""
    critic_depths: tuple[int, ...] | None = None
    """Critic depths to sweep."""
    ablations: tuple[Ablation, ...] | None = None
    """Network ablations to sweep: none, no_residual, no_layer_norm, relu (ReLU for Swish)."""
    seeds: tuple[int, ...] = (0, 1, 2)
    """Seeds of every point (trained together, vmapped, when they fit in memory)."""
    grid: GridMode = "product"
    """product: every combination of the axes; star: vary one axis at a time around the base
    flags (e.g. depth at the base width and width at the base depth)."""
    actor_depth_cap: int | None = None
    """Cap every point's actor depth at this value (the paper kept a 512-layer actor with its
    1024-layer critic)."""
    seeds_per_process: int | None = None
    """Seeds vmapped in one process; default: as many as fit --memory-budget-gb."""
    memory_budget_gb: float = 8.0
    """Memory the vmapped seeds of one process may use, by the plan's estimate."""
    isolate: bool = True
    """Run each group in a fresh child process (exact per-point peak memory; a crash costs
    one point); --no-isolate runs them all in this process."""
    dry_run: bool = False
    """Print the plan and exit."""


@dataclass(frozen=True)
class Point:
    """One run of the sweep."""

    name: str
    """Run directory name inside the sweep directory."""
    group: str
    """Points sharing a group differ only in the seed."""
    coords: dict[str, Any]
    """Resolved env, depth, width, batch_size, actor_depth, critic_depth, ablation, seed."""
    cfg: TrainConfig
    """The run's full config (run_dir inside the sweep directory)."""


@dataclass(frozen=True)
class Plan:
    """The expanded sweep with the cost of each group."""

    spec: SweepSpec
    sweep_dir: Path
    points: list[Point]
    costs: dict[str, RunCost]
    """Cost of one run of each group."""
    device: Device

    @property
    def groups(self) -> dict[str, list[Point]]:
        """Points by group, in plan order."""
        out: dict[str, list[Point]] = {}
        for p in self.points:
            out.setdefault(p.group, []).append(p)
        return out

    def seconds(self, point: Point) -> float:
        """Estimated wall clock of one point on the plan's device."""
        return self.costs[point.group].seconds(point.cfg, self.device)


# ---- expansion ---------------------------------------------------------------------------

_INT_AXES = ("depths", "widths", "batch_sizes", "actor_depths", "critic_depths")
_AXIS_CODES = {
    "depth": "d",
    "width": "w",
    "batch_size": "b",
    "actor_depth": "a",
    "critic_depth": "c",
}


def _unique(values: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _axes(spec: SweepSpec) -> list[tuple[str, list[Any]]]:
    """The swept config axes as (coordinate name, values), in a fixed order."""
    names = {
        "depths": "depth",
        "widths": "width",
        "batch_sizes": "batch_size",
        "actor_depths": "actor_depth",
        "critic_depths": "critic_depth",
        "ablations": "ablation",
    }
    out = []
    for attr, coord in names.items():
        values = getattr(spec, attr)
        if values is None:
            continue
        if len(values) == 0:
            flag = "--" + attr.replace("_", "-")
            raise ConfigError(f"{flag} was given no values: list at least one or leave it out")
        if attr in _INT_AXES and any(v <= 0 for v in values):
            raise ConfigError(f"{attr}={list(values)}: values must be positive")
        out.append((coord, _unique(values)))
    return out


def _variations(spec: SweepSpec) -> list[dict[str, Any]]:
    """Coordinate overrides of each config variation (product or star of the axes)."""
    axes = _axes(spec)
    if spec.grid == "product":
        return [
            dict(zip([a for a, _ in axes], combo, strict=True))
            for combo in itertools.product(*[v for _, v in axes])
        ]
    out: list[dict[str, Any]] = [{}]
    for name, values in axes:
        out += [{name: v} for v in values]
    return out


def _apply(base: TrainConfig, coords: dict[str, Any], cap: int | None) -> TrainConfig:
    """``base`` with the coordinate overrides applied."""
    net, crl = base.network, base.crl
    net_changes: dict[str, Any] = {}
    for name in ("depth", "width", "actor_depth", "critic_depth"):
        if name in coords:
            net_changes[name] = coords[name]
    net_changes.update(ABLATIONS[coords.get("ablation", "none")])
    net = dataclasses.replace(net, **net_changes)
    if cap is not None and net.actor_tower.depth > cap:
        net = dataclasses.replace(net, actor_depth=cap)
    if "batch_size" in coords:
        crl = dataclasses.replace(crl, batch_size=coords["batch_size"])
    return dataclasses.replace(base, network=net, crl=crl, env=coords.get("env", base.env))


def _ablation_of(cfg: TrainConfig) -> str:
    net = cfg.network
    off = [
        name
        for name, change in ABLATIONS.items()
        if change and all(getattr(net, k) == v for k, v in change.items())
    ]
    return "+".join(off) if off else "none"


def coordinates(cfg: TrainConfig) -> dict[str, Any]:
    """Every sweepable coordinate of a config, resolved (report axes)."""
    net = cfg.network
    return {
        "env": cfg.env,
        "depth": net.depth,
        "width": net.width,
        "batch_size": cfg.crl.batch_size,
        "actor_depth": net.actor_tower.depth,
        "critic_depth": net.critic_tower.depth,
        "ablation": _ablation_of(cfg),
        "seed": cfg.seed,
    }


def _point_name(env: str, coords: dict[str, Any], swept: list[str], seed: int | None) -> str:
    parts = [env]
    for name in swept:
        value = coords[name]
        parts.append(
            ("full" if value == "none" else value)
            if name == "ablation"
            else f"{_AXIS_CODES[name]}{value}"
        )
    if not swept:
        parts.append(f"d{coords['depth']}")
    if seed is not None:
        parts.append(f"s{seed}")
    return "-".join(str(p) for p in parts)


def default_sweep_dir(spec: SweepSpec) -> Path:
    """runs/sweeps/<preset>, else runs/sweeps/<env>-<swept axes> (stable, so reruns resume)."""
    if spec.preset is not None:
        return Path("runs") / "sweeps" / spec.preset
    envs = spec.envs or (spec.base.env,)
    env = envs[0] if len(envs) == 1 else f"{len(envs)}envs"
    axes = [name for name, _ in _axes(spec)] or ["seeds"]
    return Path("runs") / "sweeps" / "-".join([env, *axes])


def expand(spec: SweepSpec, sweep_dir: Path | None = None) -> list[Point]:
    """All points of the sweep, validated; raises ConfigError before anything is written."""
    if spec.base.run_dir is not None:
        raise ConfigError("--run-dir is set per point by the sweep: use --sweep-dir instead")
    if not spec.seeds:
        raise ConfigError("--seeds was given no values: list at least one seed")
    if spec.envs is not None and not spec.envs:
        raise ConfigError("--envs was given no values: list at least one task")
    if spec.actor_depth_cap is not None and spec.actor_depth_cap <= 0:
        raise ConfigError(f"actor_depth_cap={spec.actor_depth_cap}: must be positive")
    envs = _unique(spec.envs) if spec.envs is not None else [spec.base.env]
    if len(envs) > 1 and spec.base.eval_env is not None:
        raise ConfigError(
            f"--eval-env {spec.base.eval_env} applies to one task but --envs lists {len(envs)}"
        )
    root = sweep_dir or spec.sweep_dir or default_sweep_dir(spec)
    swept = [name for name, _ in _axes(spec) if name != "env"]
    points: list[Point] = []
    seen: set[str] = set()
    for env in envs:
        dims = task_dims(env)  # unknown, unregistered names fail here
        for variation in _variations(spec):
            for seed in _unique(spec.seeds):
                cfg = _apply(spec.base, {**variation, "env": env}, spec.actor_depth_cap)
                cfg = dataclasses.replace(cfg, seed=seed)
                cfg.with_episode_length(dims.episode_length).validate()
                coords = coordinates(cfg)
                name = _point_name(env, coords, swept, seed)
                if name in seen:
                    continue  # a star grid repeats its centre
                seen.add(name)
                cfg = dataclasses.replace(cfg, run_dir=root / name)
                group = _point_name(env, coords, swept, None)
                points.append(Point(name=name, group=group, coords=coords, cfg=cfg))
    return points


def make_plan(spec: SweepSpec, device: Device | None = None) -> Plan:
    """Expand the sweep and cost each group (analytic: no compilation)."""
    if spec.memory_budget_gb <= 0:
        raise ConfigError(f"memory_budget_gb={spec.memory_budget_gb}: must be positive")
    if spec.seeds_per_process is not None and spec.seeds_per_process <= 0:
        raise ConfigError(f"seeds_per_process={spec.seeds_per_process}: must be positive")
    root = spec.sweep_dir or default_sweep_dir(spec)
    points = expand(spec, root)
    costs: dict[str, RunCost] = {}
    for p in points:
        if p.group not in costs:
            costs[p.group] = run_cost(p.cfg, task_dims(p.cfg.env))
    return Plan(spec, root, points, costs, device or current_device())


def seeds_per_process(plan: Plan, group: str) -> int:
    """How many seeds of ``group`` one process trains together."""
    if plan.spec.seeds_per_process is not None:
        return plan.spec.seeds_per_process
    per_seed = plan.costs[group].memory_bytes
    return max(1, int(plan.spec.memory_budget_gb * 2**30 // per_seed))


# ---- plan output --------------------------------------------------------------------------


def config_key(cfg: TrainConfig) -> dict[str, Any]:
    """The config fields that define a run's result (not where or how it is displayed)."""
    out = cfg.to_dict()
    for name in ("run_dir", "overwrite", "progress"):
        out.pop(name, None)
    return out


def plan_json(plan: Plan) -> dict[str, Any]:
    """sweep.json: the spec, the device and every point with its config and cost."""
    spec = dataclasses.asdict(plan.spec)
    spec["base"] = plan.spec.base.to_dict()
    spec["sweep_dir"] = str(plan.sweep_dir)
    points = []
    for p in plan.points:
        cost = plan.costs[p.group]
        points.append(
            {
                "name": p.name,
                "group": p.group,
                "coords": p.coords,
                "config": config_key(p.cfg),
                "params": cost.params,
                "flops_per_sgd_step": cost.flops_per_sgd_step,
                "sgd_steps": cost.sgd_steps,
                "total_flops": cost.total_flops,
                "est_memory_bytes": cost.memory_bytes,
                "est_seconds": plan.seconds(p),
            }
        )
    return {"spec": spec, "device": plan.device, "points": points}


def format_plan(plan: Plan, done: set[str] | None = None) -> str:
    """The plan as a table: one row per group, then the totals."""
    done = done or set()
    lines = [
        f"sweep: {len(plan.points)} runs in {len(plan.groups)} groups -> {plan.sweep_dir}",
        f"  {'group':<40} {'seeds':>6} {'params':>12} {'FLOP/SGD step':>15} "
        f"{'total FLOP':>12} {'est. time':>10}  status",
    ]
    total_s = remaining_s = 0.0
    for group, points in plan.groups.items():
        cost = plan.costs[group]
        secs = sum(plan.seconds(p) for p in points)
        left = [p for p in points if p.name not in done]
        total_s += secs
        remaining_s += sum(plan.seconds(p) for p in left)
        status = "done" if not left else f"{len(points) - len(left)}/{len(points)} done"
        lines.append(
            f"  {group:<40} {len(points):>6} {cost.params['total']:>12,} "
            f"{format_flops(cost.flops_per_sgd_step):>15} "
            f"{format_flops(cost.total_flops * len(points)):>12} {format_seconds(secs):>10}  "
            f"{status}"
        )
    total_flops = sum(plan.costs[p.group].total_flops for p in plan.points)
    lines.append(
        f"  total {format_flops(total_flops)}; estimated {format_seconds(total_s)} on this "
        f"{plan.device} ({format_seconds(remaining_s)} left)"
    )
    return "\n".join(lines)


# ---- completion and resume ----------------------------------------------------------------


def is_complete(point: Point) -> bool:
    """Whether the point's run finished (done.json) with the planned config."""
    run_dir = point.cfg.run_dir
    assert run_dir is not None
    if not (run_dir / DONE_FILE).is_file():
        return False
    try:
        saved = json.loads((run_dir / "config.json").read_text())["config"]
    except (OSError, ValueError, KeyError):
        return False
    saved = {k: v for k, v in saved.items() if k not in ("run_dir", "overwrite", "progress")}
    return saved == config_key(point.cfg)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _check_stored_plan(plan: Plan, overwrite: bool) -> None:
    """Refuse a sweep directory that holds a different sweep under the same point names."""
    path = plan.sweep_dir / SWEEP_FILE
    if not path.is_file() or overwrite:
        return
    try:
        stored = {p["name"]: p["config"] for p in json.loads(path.read_text())["points"]}
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"{path} is unreadable ({err}): pass --overwrite to replace it") from err
    for p in plan.points:
        old = stored.get(p.name)
        if old is not None and old != config_key(p.cfg):
            diff = sorted(_diff_keys(old, config_key(p.cfg)))
            raise ConfigError(
                f"{plan.sweep_dir} holds a different sweep (point {p.name} differs in "
                f"{', '.join(diff)}): use another --sweep-dir or pass --overwrite"
            )


def _diff_keys(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff_keys(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(prefix + k)
    return out


# ---- running -----------------------------------------------------------------------------


def _host_peak_bytes() -> int:
    """This process's peak resident memory (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _reset_host_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _device_peak_bytes() -> int | None:
    """Peak bytes in use on the first device, where the backend reports it (GPU, TPU)."""
    import jax

    stats = jax.devices()[0].memory_stats()
    return None if not stats else stats.get("peak_bytes_in_use")


def train_seeds(cfgs: Sequence[TrainConfig], verbose: bool = True) -> list[list[Record]]:
    """Train configs that differ only in seed as one vmapped program; a run directory each.

    Each seed's run directory gets the same config.json and metrics.jsonl as
    ``runner.train`` writes, with the same numbers to float tolerance.
    """
    import jax

    from deepcrl.checkpoint import Checkpointer, CheckpointMeta
    from deepcrl.logging import JsonlSink
    from deepcrl.runner import (
        check_finite,
        default_run_dir,
        epoch_record,
        prepare_run_dir,
        setup_run,
        write_run_config,
    )

    if not cfgs:
        raise ConfigError("train_seeds needs at least one config")
    first = config_key(dataclasses.replace(cfgs[0], seed=0))
    if any(config_key(dataclasses.replace(c, seed=0)) != first for c in cfgs):
        raise ConfigError("vmapped runs must differ only in their seed")
    # The same validated config, trainer and schedule as runner.train builds for each seed.
    setup = setup_run(cfgs[0])
    cfg, trainer, schedule = setup.cfg, setup.trainer, setup.schedule
    cfgs = [dataclasses.replace(cfg, seed=c.seed, run_dir=c.run_dir) for c in cfgs]
    seeds = [c.seed for c in cfgs]
    # Per seed exactly what runner.train derives: key -> (key_init, key_eval).
    keys = jax.vmap(jax.random.split)(jax.numpy.stack([jax.random.PRNGKey(s) for s in seeds]))
    key_init, key_eval = keys[:, 0], keys[:, 1]
    counts = schedule["params"]
    run_dirs = [prepare_run_dir(c.run_dir or default_run_dir(c), c.overwrite) for c in cfgs]
    for c, run_dir in zip(cfgs, run_dirs, strict=True):
        write_run_config(run_dir, c, schedule, setup.mesh, {"vmapped_seeds": seeds})
    if verbose:
        print(
            f"{cfg.env} d{cfg.network.depth} w{cfg.network.width} b{cfg.crl.batch_size}: "
            f"seeds {seeds} vmapped, {counts['total']:,} params each",
            flush=True,
        )

    start = time.perf_counter()
    ts = jax.jit(jax.vmap(trainer.init))(key_init)
    jax.block_until_ready(ts)
    t0 = time.perf_counter()
    train_epoch = jax.jit(jax.vmap(trainer.train_epoch), donate_argnums=0).lower(ts).compile()
    evaluate = jax.jit(jax.vmap(trainer.evaluate)).lower(ts, key_eval).compile()
    compile_s = time.perf_counter() - t0
    sinks = [JsonlSink(run_dir / "metrics.jsonl") for run_dir in run_dirs]
    records: list[list[Record]] = [[] for _ in cfgs]
    try:
        for epoch in range(1, cfg.num_epochs + 1):
            t_epoch = time.perf_counter()
            ts, train_metrics = train_epoch(ts)
            jax.block_until_ready(ts)
            epoch_s = time.perf_counter() - t_epoch
            eval_keys = jax.vmap(lambda k, e=epoch: jax.random.fold_in(k, e))(key_eval)
            metrics = jax.device_get({**train_metrics, **evaluate(ts, eval_keys)})
            counters = jax.device_get((ts.env_steps, ts.train_steps))
            for i, sink in enumerate(sinks):
                seed_metrics = {k: v[i] for k, v in metrics.items()}
                record = epoch_record(
                    cfg,
                    epoch,
                    counters[0][i],
                    counters[1][i],
                    seed_metrics,
                    epoch_s,
                    compile_s,
                    start,
                )
                records[i].append(record)
                sink.log(record)
                check_finite(record, None)  # a diverged seed stops its group, logged first
            if verbose:
                succ = [r[-1]["eval/success_rate"] for r in records]
                tag = [r[-1]["eval/time_at_goal"] for r in records]
                print(
                    f"  epoch {epoch:>3}/{cfg.num_epochs}  success "
                    f"{sum(succ) / len(succ):.3f}  time_at_goal {sum(tag) / len(tag):7.1f}  "
                    f"({epoch_s:.1f} s)",
                    flush=True,
                )
    finally:
        for sink in sinks:
            sink.close()
    # The final state of every seed as a normal checkpoint: `deepcrl eval/render` work on points.
    for i, (c, run_dir) in enumerate(zip(cfgs, run_dirs, strict=True)):
        checkpointer = Checkpointer(run_dir, c.keep_checkpoints, c.checkpoint_buffer)
        meta = CheckpointMeta(
            epoch=cfg.num_epochs,
            env_steps=int(records[i][-1]["env_steps"]),
            wall_s=float(records[i][-1]["time/wall_s"]),
            has_buffer=c.checkpoint_buffer,
            config=dataclasses.replace(c, run_dir=run_dir).to_dict(),
        )
        checkpointer.save(jax.tree.map(lambda x, i=i: x[i], ts), meta)
        checkpointer.close()
    return records


def run_points(points: Sequence[Point], verbose: bool = True) -> None:
    """Train ``points`` (one group's seeds) vmapped, then mark each done with its costs."""
    reset = _reset_host_peak()
    start = time.perf_counter()
    records = train_seeds([p.cfg for p in points], verbose=verbose)
    wall_s = time.perf_counter() - start
    import jax

    host_peak = _host_peak_bytes()
    device_peak = _device_peak_bytes()
    for p, recs in zip(points, records, strict=True):
        assert p.cfg.run_dir is not None
        done = {
            "epochs": len(recs),
            "wall_s": wall_s,
            "compile_s": recs[-1]["time/compile_s"] if recs else None,
            "seeds_in_process": len(points),
            "host_peak_bytes": host_peak,
            "host_peak_is_per_group": reset,
            "device_peak_bytes": device_peak,
            "device": jax.devices()[0].device_kind,
            "finished": datetime.now().isoformat(timespec="seconds"),
        }
        _write_atomic(p.cfg.run_dir / DONE_FILE, json.dumps(done, indent=2))


def _child(points: list[Point], verbose: bool, env_restore: dict[str, str | None]) -> None:
    """Entry point of a child process: restore the environment, run, record any error."""
    for key, value in env_restore.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        run_points(points, verbose)
    except BaseException as err:
        message = f"{type(err).__name__}: {err}"
        for p in points:
            if p.cfg.run_dir is not None and p.cfg.run_dir.is_dir():
                (p.cfg.run_dir / ERROR_FILE).write_text(message + "\n" + traceback.format_exc())
        print(f"deepcrl sweep: {points[0].group} failed: {message}", file=sys.stderr, flush=True)
        sys.exit(1)


@dataclass
class SweepResult:
    """What a sweep call did."""

    plan: Plan
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


_ENV_RESTORE: dict[str, str | None] = {}
"""Environment variables this process changed before starting JAX, restored in children."""


def prepare_parent_process(spec: SweepSpec) -> None:
    """Keep a sweep's parent from grabbing accelerator memory its children need."""
    if spec.isolate and not spec.dry_run and "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ:
        _ENV_RESTORE["XLA_PYTHON_CLIENT_PREALLOCATE"] = None
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"


def run_sweep(spec: SweepSpec, verbose: bool = True) -> SweepResult:
    """Plan, print, then train every point not yet complete; returns what ran and failed."""
    from deepcrl.envs.registry import get_spec

    plan = make_plan(spec)
    result = SweepResult(plan=plan)
    overwrite = spec.base.overwrite
    done = set() if overwrite else {p.name for p in plan.points if is_complete(p)}
    if verbose:
        print(format_plan(plan, done), flush=True)
    if spec.dry_run:
        return result
    todo_points = [p for p in plan.points if p.name not in done]
    for env in _unique([e for p in todo_points for e in (p.cfg.env, p.cfg.eval_env) if e]):
        get_spec(env)  # unknown names fail here, before anything is written
    _check_stored_plan(plan, overwrite)
    plan.sweep_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(plan.sweep_dir / SWEEP_FILE, json.dumps(plan_json(plan), indent=2))
    result.skipped = [p.name for p in plan.points if p.name in done]
    for group, points in plan.groups.items():
        todo = [
            dataclasses.replace(p, cfg=dataclasses.replace(p.cfg, overwrite=True))
            for p in points
            if p.name not in done
        ]
        chunk = seeds_per_process(plan, group)
        for i in range(0, len(todo), chunk):
            batch = todo[i : i + chunk]
            for p in batch:
                assert p.cfg.run_dir is not None
                for stale in (DONE_FILE, ERROR_FILE):
                    (p.cfg.run_dir / stale).unlink(missing_ok=True)
            ok = _run_batch(batch, spec.isolate, verbose)
            (result.ran if ok else result.failed).extend(p.name for p in batch)
    if verbose:
        print(
            f"sweep: ran {len(result.ran)}, skipped {len(result.skipped)} complete, "
            f"failed {len(result.failed)}; report: deepcrl report {plan.sweep_dir}",
            flush=True,
        )
    return result


def _run_batch(points: list[Point], isolate: bool, verbose: bool) -> bool:
    """Train one batch of seeds in a child process (isolate) or here; True on success."""
    if not isolate:
        run_points(points, verbose)
        return True
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_child, args=(points, verbose, dict(_ENV_RESTORE)))
    proc.start()
    proc.join()
    return proc.exitcode == 0


def estimated_hours(plan: Plan, device: Device = "gpu") -> float:
    """Estimated hours of the whole plan on one ``device``, seeds run one after another."""
    secs = sum(plan.costs[p.group].seconds(p.cfg, device) for p in plan.points)
    return secs / 3600
