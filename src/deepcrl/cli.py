"""Command-line entry point: `deepcrl train | eval | render | plot | envs | sweep | report |
presets`."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import tyro

from deepcrl.config import TrainConfig
from deepcrl.errors import ConfigError, DeepcrlError, DivergenceError
from deepcrl.sweep_cli import SWEEP_COMMANDS, with_preset_defaults

TrainArgs = Annotated[TrainConfig, tyro.conf.OmitArgPrefixes]
RunDir = tyro.conf.Positional[Path]

RESUME_FLAGS = ("progress", "devices")
"""Fields a resumed run may take from the command line (everything else is stored)."""


def train_command(cfg: TrainArgs, resume: Path | None = None) -> None:
    """Train a contrastive RL agent (default: depth 16, width 64 on the point-mass U-maze).

    Args:
        cfg: The run's settings.
        resume: Continue the run in this directory from its latest checkpoint, with its
            stored config (only --progress and --devices may be given with it: a run
            checkpointed on N devices resumes on M).
    """
    from deepcrl import parallel, runner

    if resume is None:
        result = runner.train(cfg)
    else:
        changed = changed_fields(cfg, TrainConfig(), ignore=RESUME_FLAGS)
        if changed:
            raise ConfigError(
                f"--resume continues {resume} with its stored config: drop "
                f"{', '.join('--' + c.replace('_', '-') for c in changed)}"
            )
        result = runner.resume(resume, progress=cfg.progress, devices=cfg.devices)
    if not parallel.is_main_process():
        return
    final = result.final
    print(
        f"done: success {final['eval/success_rate']:.3f}, time at goal "
        f"{final['eval/time_at_goal']:.1f}; run dir {result.run_dir}"
    )


def changed_fields(cfg: Any, default: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """Names of the (nested) dataclass fields where ``cfg`` differs from ``default``."""
    out = []
    for f in dataclasses.fields(cfg):
        a, b = getattr(cfg, f.name), getattr(default, f.name)
        if f.name in ignore or a == b:
            continue
        out += changed_fields(a, b) if dataclasses.is_dataclass(a) else [f.name]
    return out


def _policy_and_task(
    run_dir: Path,
    env: str | None,
    episodes: int | None,
    episode_length: int | None,
    epoch: int | None,
) -> tuple[Any, str, Any, int]:
    """(policy, task name, task, episode length) for eval/render, after checking the input."""
    from deepcrl import envs
    from deepcrl.checkpoint import load_policy
    from deepcrl.training import check_eval_env

    if episodes is not None and episodes <= 0:
        raise ConfigError(f"episodes={episodes}: must be a positive integer")
    if episode_length is not None and episode_length <= 0:
        raise ConfigError(f"episode_length={episode_length}: must be a positive integer")
    policy = load_policy(run_dir, epoch)
    name = env or policy.cfg.eval_env or policy.cfg.env
    task = envs.make(name)
    check_eval_env(envs.make(policy.cfg.env), task, name)
    return policy, name, task, episode_length or policy.cfg.resolved_episode_length


def eval_command(
    run_dir: RunDir,
    env: str | None = None,
    episodes: int | None = None,
    episode_length: int | None = None,
    epoch: int | None = None,
    seed: int = 0,
    per_goal: bool = False,
) -> None:
    """Evaluate a run's policy from its checkpoint and print the metrics.

    Args:
        run_dir: A run directory written by `deepcrl train`.
        env: Task to evaluate on (e.g. a maze's `_eval` layout); default: the run's task.
        episodes: Episodes (parallel envs) to evaluate; default: the run's --num-eval-envs.
        episode_length: Steps per episode; default: the run's episode length.
        epoch: Checkpoint epoch to load; default: the latest.
        seed: Seed of the evaluation episodes' starts and goals.
        per_goal: Also print a table per goal cell of a maze task (episodes grouped by the
            cell of their goal; use many episodes, e.g. 1024).
    """
    import jax

    from deepcrl.evaluate import (
        episode_means,
        make_episode_evaluator,
        maze_grid,
        metrics_per_goal_cell,
    )

    policy, name, task, length = _policy_and_task(run_dir, env, episodes, episode_length, epoch)
    episodes = episodes or policy.cfg.num_eval_envs
    if per_goal:
        maze_grid(task)  # a task without goal cells fails here, before compiling
    evaluate = jax.jit(make_episode_evaluator(task, length, episodes, policy.agent.greedy))
    per_episode = jax.device_get(evaluate(policy.actor_params, jax.random.PRNGKey(seed)))
    print(f"{run_dir} epoch {policy.epoch} on {name}: {episodes} episodes of {length} steps")
    for key, value in episode_means(per_episode).items():
        print(f"  {key:<28} {float(value):.4f}")
    if per_goal:
        print(_per_goal_table(metrics_per_goal_cell(task, per_episode)))


def _per_goal_table(rows: dict[tuple[int, int], dict[str, float]]) -> str:
    """Plain-text table: one line per goal cell, nearest to the start first."""
    lines = [
        "  goal cell  path cells  episodes  success  time at goal  final distance",
        *(
            f"  {cell!s:<9}  {r['path_cells']:>10.0f}  {r['episodes']:>8.0f}"
            f"  {r['success_rate']:>7.3f}  {r['time_at_goal']:>12.1f}  {r['final_distance']:>14.3f}"
            for cell, r in rows.items()
        ),
    ]
    return "\n".join(lines)


def render_command(
    run_dir: RunDir,
    out: Path | None = None,
    env: str | None = None,
    episodes: int = 4,
    episode_length: int | None = None,
    epoch: int | None = None,
    fps: int = 20,
    seed: int = 0,
) -> None:
    """Write a video (GIF, or MP4 with ffmpeg) of a run's policy reaching goals.

    Args:
        run_dir: A run directory written by `deepcrl train`.
        out: Video file (.gif or .mp4); default: RUN_DIR/policy.gif.
        env: Task to show (e.g. a maze's `_eval` layout); default: the run's task.
        episodes: Episodes shown one after another.
        episode_length: Steps per episode; default: the run's episode length.
        epoch: Checkpoint epoch to load; default: the latest.
        fps: Frames per second of the video.
        seed: Seed of the episodes' starts and goals.
    """
    import jax

    from deepcrl.render import rollout_episodes, write_video

    policy, _, task, length = _policy_and_task(run_dir, env, episodes, episode_length, epoch)
    path = out or run_dir / "policy.gif"
    episodes_out = rollout_episodes(
        task, policy.agent.greedy, policy.actor_params, jax.random.PRNGKey(seed), length, episodes
    )
    frames = write_video(task, episodes_out, path, fps=fps)
    print(
        f"wrote {path}: {frames} frames ({episodes} episodes of {length} steps, "
        f"epoch {policy.epoch})"
    )


def plot_command(
    run_dirs: tyro.conf.Positional[list[Path]],
    out: Path = Path("learning_curves.png"),
    metric: str = "eval/success_rate",
) -> None:
    """Draw learning curves (metric vs env steps and vs wall clock) of runs into a PNG.

    Args:
        run_dirs: One or more run directories.
        out: PNG file to write.
        metric: Metric to plot (e.g. eval/time_at_goal, eval/final_distance).
    """
    from deepcrl.plotting import plot_runs

    print(f"wrote {plot_runs(run_dirs, out, metric)}")


def envs_command(names: tyro.conf.Positional[tuple[str, ...]] = ()) -> None:
    """List the registered tasks; name some to build them and show their sizes.

    The listing itself builds nothing (a Brax or MJX model takes seconds to load); tasks
    marked "GPU" run on a physics engine and are too slow to train on a CPU.
    """
    from deepcrl import envs
    from deepcrl.envs.registry import get_spec

    if not names:
        print(
            "CPU ok: trains on a CPU in minutes. GPU: runs on a CPU (tests, smoke runs) but is "
            "too slow to train there.\n"
        )
        for spec in envs.list_envs():
            where = "CPU ok" if spec.cpu_friendly else "GPU   "
            print(f"{spec.name:<32} {where}  {spec.description}")
        print("\n`deepcrl envs NAME ...` builds the named tasks and shows their sizes.")
        return
    for name in names:
        spec = get_spec(name)
        env = spec.factory()
        note = "" if spec.cpu_friendly else "  (slow on CPU: use a GPU)"
        print(
            f"{spec.name}: state {env.state_dim}, goal {env.goal_dim} (state entries "
            f"{list(env.goal_indices)}), action {env.action_dim}, success radius "
            f"{env.goal_reach_thresh:g}, episode {env.default_episode_length}{note}\n"
            f"  {spec.description}"
        )


COMMANDS: dict[str, Callable[..., None]] = {
    "train": train_command,
    "eval": eval_command,
    "render": render_command,
    "plot": plot_command,
    "envs": envs_command,
    **SWEEP_COMMANDS,
}


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run a subcommand.

    Bad input exits 2 and a diverged run exits 1, each with one line and no traceback
    (set DEEPCRL_TRACEBACK=1 to see it).
    """
    try:
        commands = with_preset_defaults(COMMANDS, sys.argv[1:] if argv is None else argv)
        tyro.extras.subcommand_cli_from_dict(commands, args=argv, prog="deepcrl")
    except DeepcrlError as err:
        if os.environ.get("DEEPCRL_TRACEBACK"):
            raise
        print(f"deepcrl: error: {err}", file=sys.stderr)
        sys.exit(1 if isinstance(err, DivergenceError) else 2)


if __name__ == "__main__":
    main()
