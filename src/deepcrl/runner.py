"""The run loop: resolve config, prepare the run directory, compile, train, evaluate, log."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

from deepcrl import envs, parallel
from deepcrl.agents.crl import param_counts
from deepcrl.config import ConfigError, TrainConfig
from deepcrl.logging import JsonlSink, LineSink, ProgressSink, Record, Sink
from deepcrl.training import make_trainer

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
            f"run_dir={path} already holds a run: pass --overwrite or choose another --run-dir"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
        for stale in ("metrics.jsonl", "config.json"):
            (path / stale).unlink(missing_ok=True)
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
        "sgd_steps_total": cfg.sgd_steps * cfg.train_steps_per_epoch * cfg.num_epochs,
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


def train(cfg: TrainConfig, sinks: list[Sink] | None = None, verbose: bool = True) -> RunResult:
    """Run a full training job described by ``cfg``; returns the run dir and eval records.

    Data parallel over ``cfg.devices`` devices (all by default), across hosts when started
    under SLURM or with the JAX coordinator variables (see docs/multi_device.md). Every
    process runs the same programs; only process 0 prints and writes the run directory.
    """
    parallel.init_distributed()
    env = envs.make(cfg.env)
    cfg = cfg.with_episode_length(env.default_episode_length)
    cfg.validate()
    mesh = parallel.make_mesh(cfg.devices)
    cfg.check_device_split(parallel.mesh_size(mesh))
    main_process = parallel.is_main_process()
    verbose = verbose and main_process
    eval_env = env if cfg.eval_env is None else envs.make(cfg.eval_env)
    trainer = make_trainer(cfg, env, eval_env, mesh)
    key = jax.random.PRNGKey(cfg.seed)
    key_init, key_eval = jax.random.split(key)
    counts = param_counts(jax.eval_shape(trainer.agent.init, key_init))
    schedule = schedule_summary(cfg, counts)
    run_dir = cfg.run_dir or default_run_dir(cfg)
    if main_process:
        run_dir = prepare_run_dir(run_dir, cfg.overwrite)
    device = mesh.devices.flat[0]
    split = parallel.describe_split(mesh, cfg.num_envs, cfg.crl.batch_size, cfg.num_eval_envs)
    config_json = json.dumps(
        {
            "config": cfg.to_dict() | {"run_dir": str(run_dir)},
            "schedule": schedule,
            "versions": package_versions(),
            "device": {
                "platform": device.platform,
                "kind": device.device_kind,
                "count": parallel.mesh_size(mesh),
                "processes": jax.process_count(),
                "split": split,
            },
        },
        indent=2,
    )
    if main_process:
        (run_dir / "config.json").write_text(config_json)
    if verbose:
        print(format_schedule(cfg, schedule), flush=True)
        print(f"  {split}", flush=True)
        print(f"  run dir: {run_dir}", flush=True)

    start = time.perf_counter()
    ts = jax.jit(trainer.init)(key_init)
    jax.block_until_ready(ts)
    init_s = time.perf_counter() - start
    t0 = time.perf_counter()
    train_epoch = jax.jit(trainer.train_epoch, donate_argnums=0).lower(ts).compile()
    evaluate = jax.jit(trainer.evaluate).lower(ts, key_eval).compile()
    compile_s = time.perf_counter() - t0
    if verbose:
        print(f"  prefill {init_s:.1f}s, compile {compile_s:.1f}s", flush=True)

    all_sinks: list[Sink] = [JsonlSink(run_dir / "metrics.jsonl")] if main_process else []
    if sinks is not None and main_process:
        all_sinks += sinks
    elif verbose:
        all_sinks.append(ProgressSink(cfg.total_env_steps) if cfg.progress else LineSink())
    records: list[Record] = []
    try:
        for epoch in range(1, cfg.num_epochs + 1):
            t_epoch = time.perf_counter()
            ts, train_metrics = train_epoch(ts)
            jax.block_until_ready(ts)
            epoch_s = time.perf_counter() - t_epoch
            eval_metrics = evaluate(ts, jax.random.fold_in(key_eval, epoch))
            record: Record = {
                "epoch": epoch,
                "env_steps": int(ts.env_steps),
                "train_steps": int(ts.train_steps),
                **{k: float(v) for k, v in train_metrics.items()},
                **{k: float(v) for k, v in eval_metrics.items()},
                "training/sps": cfg.env_steps_per_epoch / epoch_s,
                "time/epoch_s": epoch_s,
                "time/compile_s": compile_s,
                "time/wall_s": time.perf_counter() - start,
            }
            records.append(record)
            for sink in all_sinks:
                sink.log(record)
    finally:
        for sink in all_sinks:
            sink.close()
    return RunResult(run_dir=run_dir, records=records)
