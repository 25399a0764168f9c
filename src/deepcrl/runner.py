"""The run loop: resolve config, prepare the run directory, compile, train, evaluate, log."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import jax
from jax.sharding import Mesh

from deepcrl import envs, parallel
from deepcrl.agents.crl import param_counts
from deepcrl.checkpoint import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    Checkpointer,
    CheckpointMeta,
    abstract_state,
    read_run_config,
)
from deepcrl.config import TrainConfig
from deepcrl.errors import CheckpointError, ConfigError, DivergenceError
from deepcrl.logging import (
    JsonlSink,
    LineSink,
    ProgressSink,
    Record,
    Sink,
    TensorBoardSink,
    WandbSink,
    require_extra,
)
from deepcrl.training import Trainer, make_trainer

METRICS_FILE = "metrics.jsonl"

PACKAGES = ("deepcrl", "jax", "jaxlib", "flax", "optax", "numpy", "tyro")


@dataclass(frozen=True)
class RunResult:
    """What a finished run leaves behind."""

    run_dir: Path
    records: list[Record]

    @property
    def final(self) -> Record:
        """The last evaluation record."""
        return self.records[-1]


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def default_run_dir(cfg: TrainConfig) -> Path:
    """runs/<env>-d<depth>-s<seed>-<timestamp>."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{cfg.env}-d{cfg.network.depth}-s{cfg.seed}-{stamp}"


def prepare_run_dir(path: Path, overwrite: bool) -> Path:
    """Create the run directory; refuse a non-empty one unless overwrite is set."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run_dir={path} exists and is not a directory: choose another path")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ConfigError(
            f"run_dir={path} already holds a run: continue it with --resume {path}, replace it "
            f"with --overwrite, or choose another --run-dir"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        for stale in (METRICS_FILE, CONFIG_FILE):
            (path / stale).unlink(missing_ok=True)
        shutil.rmtree(path / CHECKPOINT_DIR, ignore_errors=True)
    except OSError as err:
        raise ConfigError(
            f"run_dir={path} is not writable ({err.strerror}): choose another"
        ) from err
    return path


def schedule_summary(cfg: TrainConfig, counts: dict[str, int]) -> dict[str, Any]:
    """The effective schedule a run will execute (all derived, nothing rounded)."""
    return {
        "env_steps_per_train_step": cfg.env_steps_per_train_step,
        "sgd_steps_per_train_step": cfg.sgd_steps,
        "update_to_data_ratio": cfg.update_to_data_ratio,
        "train_steps_per_epoch": cfg.train_steps_per_epoch,
        "env_steps_per_epoch": cfg.env_steps_per_epoch,
        "prefill_env_steps": cfg.prefill_env_steps,
        "training_env_steps": cfg.total_env_steps,
        "total_env_steps_with_prefill": cfg.total_env_steps + cfg.prefill_env_steps,
        "sgd_steps_total": cfg.total_sgd_steps,
        "episode_length": cfg.resolved_episode_length,
        "params": counts,
    }


def format_schedule(cfg: TrainConfig, s: dict[str, Any]) -> str:
    """Human-readable schedule printed before training."""
    p = s["params"]
    net = cfg.network
    return "\n".join(
        [
            f"deepcrl: {cfg.env}, actor depth {net.actor_tower.depth} width "
            f"{net.actor_tower.width}, critic depth {net.critic_tower.depth} width "
            f"{net.critic_tower.width}, batch {cfg.crl.batch_size}, seed {cfg.seed}",
            f"  params: actor {p['actor']:,}  phi(s,a) {p['sa_encoder']:,}  "
            f"psi(g) {p['g_encoder']:,}  total {p['total']:,}",
            f"  each training step: {cfg.num_envs} envs x {cfg.unroll_length} steps = "
            f"{s['env_steps_per_train_step']:,} env steps, {cfg.sgd_steps} SGD steps "
            f"(update-to-data {s['update_to_data_ratio']:.2f})",
            f"  {cfg.num_epochs} epochs x {s['train_steps_per_epoch']} training steps = "
            f"{s['training_env_steps']:,} env steps + prefill {s['prefill_env_steps']:,} = "
            f"{s['total_env_steps_with_prefill']:,} env steps, {s['sgd_steps_total']:,} SGD steps",
        ]
    )


def write_run_config(
    run_dir: Path,
    cfg: TrainConfig,
    schedule: dict[str, Any],
    mesh: Mesh,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write run_dir/config.json: resolved config, schedule, versions, devices (+ ``extra``)."""
    device = mesh.devices.flat[0]
    payload = {
        "config": cfg.to_dict() | {"run_dir": str(run_dir)},
        "schedule": schedule,
        "versions": package_versions(),
        "device": {
            "platform": device.platform,
            "kind": device.device_kind,
            "count": parallel.mesh_size(mesh),
            "processes": jax.process_count(),
            "split": describe_split(cfg, mesh),
        },
    }
    (run_dir / CONFIG_FILE).write_text(json.dumps(payload | (extra or {}), indent=2))


def epoch_record(
    cfg: TrainConfig,
    epoch: int,
    env_steps: int,
    train_steps: int,
    metrics: dict[str, Any],
    epoch_s: float,
    compile_s: float,
    start: float,
) -> Record:
    """One metrics.jsonl line: counters, scalar ``metrics`` and timings."""
    return {
        "epoch": epoch,
        "env_steps": int(env_steps),
        "train_steps": int(train_steps),
        **{k: float(v) for k, v in metrics.items()},
        "training/sps": cfg.env_steps_per_epoch / epoch_s,
        "time/epoch_s": epoch_s,
        "time/compile_s": compile_s,
        "time/wall_s": time.perf_counter() - start,
    }


@dataclass(frozen=True)
class RunSetup:
    """A validated config with its trainer and the run's fixed keys."""

    cfg: TrainConfig
    trainer: Trainer
    mesh: Mesh
    key_init: jax.Array
    key_eval: jax.Array
    schedule: dict[str, Any]


def setup_run(cfg: TrainConfig) -> RunSetup:
    """Resolve and validate ``cfg`` and build its trainer; raises before writing anything."""
    parallel.init_distributed()
    env = envs.make(cfg.env)
    cfg = cfg.with_episode_length(env.default_episode_length)
    cfg.validate()
    mesh = parallel.make_mesh(cfg.devices)
    cfg.check_device_split(parallel.mesh_size(mesh))
    if cfg.tensorboard:
        require_extra("tensorboardX", "tensorboard")
    if cfg.wandb:
        require_extra("wandb", "wandb")
    eval_env = env if cfg.eval_env is None else envs.make(cfg.eval_env)
    trainer = make_trainer(cfg, env, eval_env, mesh)
    key_init, key_eval = jax.random.split(jax.random.PRNGKey(cfg.seed))
    counts = param_counts(jax.eval_shape(trainer.agent.init, key_init))
    return RunSetup(cfg, trainer, mesh, key_init, key_eval, schedule_summary(cfg, counts))


def optional_sinks(
    cfg: TrainConfig, run_dir: Path, initial_env_steps: int, verbose: bool
) -> list[Sink]:
    """A progress bar or plain lines when verbose; TensorBoard / W&B when the config asks."""
    sinks: list[Sink] = []
    if verbose:
        sinks.append(
            ProgressSink(cfg.total_env_steps, initial_env_steps) if cfg.progress else LineSink()
        )
    if cfg.tensorboard:
        sinks.append(TensorBoardSink(run_dir / "tensorboard"))
    if cfg.wandb:
        sinks.append(
            WandbSink(run_dir, cfg.wandb_project, cfg.wandb_mode, cfg.to_dict(), run_dir.name)
        )
    return sinks


def train(cfg: TrainConfig, sinks: list[Sink] | None = None, verbose: bool = True) -> RunResult:
    """Run a fresh training job described by ``cfg``; returns the run dir and eval records.

    ``sinks`` replaces the console/TensorBoard/W&B sinks (metrics.jsonl is always written).
    Data parallel over ``cfg.devices`` devices (all by default), across hosts when started
    under SLURM or with the JAX coordinator variables (see docs/multi_device.md): every
    process runs the same programs; only process 0 prints and writes the run directory.
    """
    setup = setup_run(cfg)
    cfg = setup.cfg
    main_process = parallel.is_main_process()
    verbose = verbose and main_process
    run_dir = cfg.run_dir or default_run_dir(cfg)
    if main_process:
        run_dir = prepare_run_dir(run_dir, cfg.overwrite)
    cfg = dataclasses.replace(cfg, run_dir=run_dir)
    if main_process:
        write_run_config(run_dir, cfg, setup.schedule, setup.mesh)
    if verbose:
        print(format_schedule(cfg, setup.schedule), flush=True)
        print(f"  {describe_split(cfg, setup.mesh)}", flush=True)
        print(f"  run dir: {run_dir}", flush=True)
    start = time.perf_counter()
    ts = jax.jit(setup.trainer.init)(setup.key_init)
    jax.block_until_ready(ts)
    if verbose:
        print(f"  prefill {time.perf_counter() - start:.1f}s", flush=True)
    checkpointer = Checkpointer(run_dir, cfg.keep_checkpoints, cfg.checkpoint_buffer)
    return _run_epochs(setup, ts, run_dir, checkpointer, 1, start, [], sinks, verbose)


def resume(
    run_dir: Path,
    sinks: list[Sink] | None = None,
    verbose: bool = True,
    progress: bool = True,
    devices: int | None = None,
) -> RunResult:
    """Continue the run in ``run_dir`` from its latest checkpoint, with its stored config.

    Resuming is exact: with the buffer checkpointed (the default), the metrics of a resumed
    run equal those of an uninterrupted one on the same devices. ``devices`` (default: the
    stored setting) may differ from the run's: the state is re-split on restore. Everything
    is checked before anything is written.
    """
    run_dir = Path(run_dir)
    verbose = verbose and parallel.is_main_process()
    stored = read_run_config(run_dir)
    cfg = TrainConfig.from_dict(stored)
    cfg = dataclasses.replace(
        cfg, run_dir=run_dir, progress=progress, devices=devices or cfg.devices
    )
    setup = setup_run(cfg)
    cfg = setup.cfg
    checkpointer = Checkpointer.existing(run_dir, cfg.keep_checkpoints, cfg.checkpoint_buffer)
    epoch = checkpointer.latest_epoch()
    meta = checkpointer.read_meta(epoch)
    if not _same_run(meta.config, stored):
        raise CheckpointError(
            f"checkpoint {checkpointer.directory / str(epoch)} belongs to another run (its "
            f"config differs from {run_dir / CONFIG_FILE}): it was copied in from elsewhere"
        )
    records = [r for r in load_records(run_dir) if int(r["epoch"]) <= meta.epoch]
    if meta.epoch >= cfg.num_epochs:
        if verbose:
            print(f"deepcrl: {run_dir} already finished all {cfg.num_epochs} epochs", flush=True)
        return RunResult(run_dir=run_dir, records=records)

    start = time.perf_counter()
    # Restore straight onto this run's devices (a checkpoint from N devices loads on M).
    abstract = parallel.abstract_on(setup.mesh, abstract_state(setup.trainer.init, setup.key_init))
    if not meta.has_buffer:
        # An empty subtree: nothing to restore or allocate; refill builds the new buffer.
        abstract = dataclasses.replace(abstract, buffer=cast(Any, None))
    ts, meta = checkpointer.restore(abstract, epoch)
    if not meta.has_buffer:
        ts = jax.jit(setup.trainer.refill)(ts)
    # Drop records logged after the checkpoint (the crash lost their state): rewrite atomically.
    if parallel.is_main_process():
        _rewrite_records(run_dir, records)
    if verbose:
        print(format_schedule(cfg, setup.schedule), flush=True)
        print(f"  {describe_split(cfg, setup.mesh)}", flush=True)
        print(
            f"  resuming {run_dir} after epoch {meta.epoch} ({meta.env_steps:,} env steps"
            f"{'' if meta.has_buffer else ', buffer refilled by the restored policy'})",
            flush=True,
        )
    return _run_epochs(
        setup,
        ts,
        run_dir,
        checkpointer,
        meta.epoch + 1,
        start - meta.wall_s,
        records,
        sinks,
        verbose,
    )


def describe_split(cfg: TrainConfig, mesh: Mesh) -> str:
    """How envs and batch are split over the run's devices (one line)."""
    return parallel.describe_split(mesh, cfg.num_envs, cfg.crl.batch_size, cfg.num_eval_envs)


def _same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two stored configs describe the same run (location, display and device count
    aside: a checkpoint from N devices resumes on M)."""
    ignore = {"run_dir", "progress", "devices"}
    return {k: v for k, v in a.items() if k not in ignore} == {
        k: v for k, v in b.items() if k not in ignore
    }


def _run_epochs(
    setup: RunSetup,
    ts: Any,
    run_dir: Path,
    checkpointer: Checkpointer,
    first_epoch: int,
    start: float,
    records: list[Record],
    sinks: list[Sink] | None,
    verbose: bool,
) -> RunResult:
    """Compile, then train, evaluate, log and checkpoint epochs first_epoch..num_epochs.

    ``start`` is the perf_counter value that counts as wall-clock zero of the run.
    """
    cfg, trainer = setup.cfg, setup.trainer
    t0 = time.perf_counter()
    train_epoch = jax.jit(trainer.train_epoch, donate_argnums=0).lower(ts).compile()
    evaluate = jax.jit(trainer.evaluate).lower(ts, setup.key_eval).compile()
    compile_s = time.perf_counter() - t0
    if verbose:
        print(f"  compile {compile_s:.1f}s", flush=True)
    all_sinks: list[Sink] = []
    if parallel.is_main_process():  # evaluation is computed everywhere, logged once
        extra = optional_sinks(cfg, run_dir, int(ts.env_steps), verbose) if sinks is None else sinks
        all_sinks = [JsonlSink(run_dir / METRICS_FILE), *extra]
    records = list(records)
    try:
        for epoch in range(first_epoch, cfg.num_epochs + 1):
            t_epoch = time.perf_counter()
            ts, train_metrics = train_epoch(ts)
            jax.block_until_ready(ts)
            epoch_s = time.perf_counter() - t_epoch
            eval_metrics = evaluate(ts, jax.random.fold_in(setup.key_eval, epoch))
            record = epoch_record(
                cfg,
                epoch,
                int(ts.env_steps),
                int(ts.train_steps),
                {**train_metrics, **eval_metrics},
                epoch_s,
                compile_s,
                start,
            )
            records.append(record)
            for sink in all_sinks:
                sink.log(record)
            check_finite(record, checkpointer)
            if epoch == cfg.num_epochs or (
                cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0
            ):
                meta = CheckpointMeta(
                    epoch=epoch,
                    env_steps=int(ts.env_steps),
                    wall_s=float(record["time/wall_s"]),
                    has_buffer=cfg.checkpoint_buffer,
                    config=cfg.to_dict(),
                )
                checkpointer.save(ts, meta)
    finally:
        for sink in all_sinks:
            sink.close()
        checkpointer.close()
    return RunResult(run_dir=run_dir, records=records)


GUARDED_LOSSES = ("critic/loss", "actor/loss", "alpha/loss", "alpha")


def check_finite(record: Record, checkpointer: Checkpointer | None) -> None:
    """Stop the run (DivergenceError) if a loss or any parameter became non-finite."""
    problems = [f"{k} is {record[k]}" for k in GUARDED_LOSSES if not math.isfinite(record[k])]
    if record["training/params_finite"] != 1.0:
        problems.append("a network parameter is not finite")
    if not problems:
        return
    epochs = checkpointer.epochs() if checkpointer is not None else []
    kept = (
        f"the last good checkpoint (epoch {epochs[-1]}) is kept in {checkpointer.directory}"
        if checkpointer is not None and epochs
        else "no checkpoint had been written yet"
    )
    raise DivergenceError(
        f"training diverged in epoch {record['epoch']}: {problems[0]}; {kept}; lower the "
        f"learning rates (--actor-lr, --critic-lr) and train again"
    )


def load_records(run_dir: Path) -> list[Record]:
    """Records of RUN_DIR/metrics.jsonl; a truncated last line (a crash) is skipped."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _rewrite_records(run_dir: Path, records: list[Record]) -> None:
    """Replace metrics.jsonl with ``records`` in one atomic rename."""
    tmp = run_dir / (METRICS_FILE + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, run_dir / METRICS_FILE)
