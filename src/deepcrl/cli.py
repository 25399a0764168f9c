"""Command-line entry point: `deepcrl train | envs`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Annotated

import tyro

from deepcrl.config import ConfigError, TrainConfig

TrainArgs = Annotated[TrainConfig, tyro.conf.OmitArgPrefixes]


def train_command(cfg: TrainArgs) -> None:
    """Train a contrastive RL agent (defaults: a depth-4 agent on the point-mass U-maze)."""
    from deepcrl import parallel
    from deepcrl.runner import train

    result = train(cfg)
    if not parallel.is_main_process():
        return
    final = result.final
    print(
        f"done: success {final['eval/success_rate']:.3f}, time at goal "
        f"{final['eval/time_at_goal']:.1f}; run dir {result.run_dir}"
    )


def envs_command() -> None:
    """List the registered tasks."""
    from deepcrl import envs

    for spec in envs.list_envs():
        env = spec.factory()
        note = "" if spec.cpu_friendly else "  (slow on CPU: use a GPU)"
        print(
            f"{spec.name:<24} state {env.state_dim:>3}  goal {env.goal_dim}  action "
            f"{env.action_dim:>2}  radius {env.goal_reach_thresh:<5}  episode "
            f"{env.default_episode_length:<5} {spec.description}{note}"
        )


COMMANDS: dict[str, Callable[..., None]] = {"train": train_command, "envs": envs_command}


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run a subcommand; bad input exits 2 with one line."""
    try:
        tyro.extras.subcommand_cli_from_dict(COMMANDS, args=argv, prog="deepcrl")
    except ConfigError as err:
        if os.environ.get("DEEPCRL_TRACEBACK"):
            raise
        print(f"deepcrl: error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
