"""Orbax checkpoints of the complete training state, and loading a policy from a run.

Layout: ``RUN_DIR/checkpoints/<epoch>/`` holds up to four items:

- ``agent``: all network parameters, optimiser states and log alpha (CRLState);
- ``loop``: env states, the training RNG key and the step counters;
- ``buffer``: the replay buffer (skipped with ``checkpoint_buffer=False``);
- ``meta``: JSON with the format version, epoch, env steps, wall clock and the run's
  resolved config, so a checkpoint describes itself.

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a
process killed mid-write leaves only an unfinished temporary directory, which is ignored:
the previous checkpoint stays the latest loadable one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from deepcrl import envs
from deepcrl.agents.crl import CRLAgent, make_networks
from deepcrl.config import TrainConfig
from deepcrl.errors import CheckpointError
from deepcrl.training import TrainingState

FORMAT_VERSION = 1
CHECKPOINT_DIR = "checkpoints"
CONFIG_FILE = "config.json"


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about itself."""

    epoch: int
    env_steps: int
    wall_s: float
    has_buffer: bool
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON object stored as the ``meta`` item."""
        return {
            "format_version": FORMAT_VERSION,
            "epoch": self.epoch,
            "env_steps": self.env_steps,
            "wall_s": self.wall_s,
            "has_buffer": self.has_buffer,
            "config": self.config,
        }

    @classmethod
    def from_json(cls, data: Any, where: Path) -> CheckpointMeta:
        """Parse a ``meta`` item, rejecting one deepcrl did not write."""
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            version = data.get("format_version") if isinstance(data, dict) else None
            raise CheckpointError(
                f"{where} is not a deepcrl checkpoint of format {FORMAT_VERSION} (found "
                f"format {version}): it was written by another program or version"
            )
        return cls(
            epoch=int(data["epoch"]),
            env_steps=int(data["env_steps"]),
            wall_s=float(data["wall_s"]),
            has_buffer=bool(data["has_buffer"]),
            config=data["config"],
        )


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The resolved config dict stored in RUN_DIR/config.json (CheckpointError if absent)."""
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory {run_dir} does not exist")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{run_dir} is not a deepcrl run directory (no {CONFIG_FILE}): pass the directory "
            f"`deepcrl train` printed as its run dir"
        )
    try:
        stored = json.loads(path.read_text())
        return dict(stored["config"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path} is unreadable ({type(err).__name__}): not a run?") from err


class Checkpointer:
    """Saves and restores TrainingState under RUN_DIR/checkpoints; one per run."""

    def __init__(self, run_dir: Path, keep: int = 3, save_buffer: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.directory = (self.run_dir / CHECKPOINT_DIR).absolute()
        self.save_buffer = save_buffer
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                max_to_keep=keep,
                # Synchronous: the next (donating) epoch must not reuse buffers being written.
                enable_async_checkpointing=False,
                create=True,
            ),
        )

    @classmethod
    def existing(cls, run_dir: Path, keep: int = 3, save_buffer: bool = True) -> Checkpointer:
        """The checkpointer of a run that has written checkpoints (CheckpointError if none)."""
        if not (Path(run_dir) / CHECKPOINT_DIR).is_dir():
            raise CheckpointError(
                f"{run_dir} has no {CHECKPOINT_DIR}/ directory (the run stopped before its "
                f"first checkpoint): start it again with --overwrite"
            )
        return cls(run_dir, keep, save_buffer)

    def epochs(self) -> list[int]:
        """Epochs with a complete checkpoint, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, ts: TrainingState, meta: CheckpointMeta) -> None:
        """Write the checkpoint for ``meta.epoch``; returns once it is on disk."""
        items: dict[str, Any] = {
            "agent": ocp.args.StandardSave(ts.agent),
            "loop": ocp.args.StandardSave(_loop_part(ts)),
            "meta": ocp.args.JsonSave(meta.to_json()),
        }
        if self.save_buffer:
            items["buffer"] = ocp.args.StandardSave(ts.buffer)
        self._manager.save(meta.epoch, args=ocp.args.Composite(**items), force=True)
        self._manager.wait_until_finished()

    def latest_epoch(self) -> int:
        """The newest complete checkpoint's epoch (CheckpointError if there is none)."""
        epochs = self.epochs()
        if not epochs:
            raise CheckpointError(
                f"{self.run_dir} has no checkpoint (the run stopped before its first one): "
                f"start it again with --overwrite"
            )
        return epochs[-1]

    def read_meta(self, epoch: int) -> CheckpointMeta:
        """The ``meta`` item of one checkpoint."""
        where = self.directory / str(epoch)
        try:
            restored = self._manager.restore(
                epoch, args=ocp.args.Composite(meta=ocp.args.JsonRestore())
            )
        except Exception as err:  # orbax raises many types for a damaged directory
            raise _unreadable(where, err, self.epochs()) from err
        return CheckpointMeta.from_json(restored["meta"], where)

    def restore(
        self, abstract: TrainingState, epoch: int | None = None, with_buffer: bool = True
    ) -> tuple[TrainingState, CheckpointMeta]:
        """Restore onto ``abstract`` (shapes, dtypes and optional shardings).

        Without a stored (or requested) buffer, ``abstract.buffer`` is returned as it is
        (pass None and let Trainer.refill build a new one).
        """
        epoch = self.latest_epoch() if epoch is None else epoch
        meta = self.read_meta(epoch)
        items: dict[str, Any] = {
            "agent": ocp.args.StandardRestore(abstract.agent),
            "loop": ocp.args.StandardRestore(_loop_part(abstract)),
        }
        if with_buffer and meta.has_buffer:
            items["buffer"] = ocp.args.StandardRestore(abstract.buffer)
        where = self.directory / str(epoch)
        try:
            restored = self._manager.restore(epoch, args=ocp.args.Composite(**items))
        except Exception as err:
            raise _unreadable(where, err, self.epochs()) from err
        loop = restored["loop"]
        ts = TrainingState(
            agent=restored["agent"],
            env_state=_env_state_from(loop["env_state"], abstract.env_state),
            buffer=restored["buffer"] if "buffer" in items else abstract.buffer,
            key=loop["key"],
            env_steps=loop["env_steps"],
            train_steps=loop["train_steps"],
        )
        return ts, meta

    def restore_agent(self, abstract_agent: Any, epoch: int | None = None) -> tuple[Any, int]:
        """Only the agent (parameters and optimiser states) and its epoch: for eval/render."""
        epoch = self.latest_epoch() if epoch is None else epoch
        if epoch not in self.epochs():
            raise CheckpointError(
                f"{self.run_dir} has no checkpoint for epoch {epoch}: available {self.epochs()}"
            )
        where = self.directory / str(epoch)
        try:
            restored = self._manager.restore(
                epoch, args=ocp.args.Composite(agent=ocp.args.StandardRestore(abstract_agent))
            )
        except Exception as err:
            raise _unreadable(where, err, self.epochs()) from err
        return restored["agent"], epoch

    def close(self) -> None:
        """Finish pending writes and release orbax resources."""
        self._manager.wait_until_finished()
        self._manager.close()


def _loop_part(ts: TrainingState) -> dict[str, Any]:
    """The non-agent, non-buffer leaves of a TrainingState.

    The env state is stored as its non-empty leaves keyed by position: orbax cannot write
    zero-size arrays, and some simulators carry them (MJX's ``data.act`` for a model
    without actuator activations); ``_env_state_from`` puts them back.
    """
    leaves = jax.tree.leaves(ts.env_state)
    return {
        "env_state": {str(i): leaf for i, leaf in enumerate(leaves) if _size(leaf) > 0},
        "key": ts.key,
        "env_steps": ts.env_steps,
        "train_steps": ts.train_steps,
    }


def _size(leaf: Any) -> int:
    """Number of elements of an array or of a jax.ShapeDtypeStruct."""
    return int(np.prod(leaf.shape))


def _env_state_from(stored: dict[str, Any], abstract_env_state: Any) -> Any:
    """The env state rebuilt from its stored non-empty leaves and the abstract structure."""
    leaves, treedef = jax.tree.flatten(abstract_env_state)
    filled = [
        stored[str(i)] if _size(leaf) > 0 else jnp.zeros(leaf.shape, leaf.dtype)
        for i, leaf in enumerate(leaves)
    ]
    return jax.tree.unflatten(treedef, filled)


def _unreadable(where: Path, err: Exception, epochs: list[int]) -> CheckpointError:
    """One-line error for a damaged checkpoint, naming the fallback."""
    first_line = (str(err).strip().splitlines() or [""])[0][:160]
    older = [e for e in epochs if str(e) != where.name]
    fix = (
        f"delete {where} to fall back to epoch {older[-1]}"
        if older
        else "no older checkpoint exists: start the run again with --overwrite"
    )
    return CheckpointError(
        f"checkpoint {where} is unreadable ({type(err).__name__}: {first_line}): {fix}"
    )


def abstract_state(init: Any, key: jax.Array) -> TrainingState:
    """Shapes and dtypes of the TrainingState that ``init(key)`` builds, without running it."""
    result: TrainingState = jax.eval_shape(init, key)
    return result


@dataclass(frozen=True)
class LoadedPolicy:
    """A trained policy rebuilt from a run directory: config, agent and actor parameters."""

    cfg: TrainConfig
    agent: CRLAgent
    actor_params: Any
    epoch: int


def load_policy(run_dir: Path, epoch: int | None = None) -> LoadedPolicy:
    """Rebuild the networks from RUN_DIR/config.json and restore the actor of a checkpoint."""
    run_dir = Path(run_dir)
    cfg = TrainConfig.from_dict(read_run_config(run_dir))
    env = envs.make(cfg.env)
    cfg = cfg.with_episode_length(env.default_episode_length)
    nets = make_networks(cfg.network, env.state_dim, env.action_dim, env.goal_dim)
    agent = CRLAgent(nets, cfg.crl, cfg.total_sgd_steps)
    abstract = jax.eval_shape(agent.init, jax.random.PRNGKey(0))
    checkpointer = Checkpointer.existing(run_dir)
    try:
        agent_state, epoch = checkpointer.restore_agent(abstract, epoch)
    finally:
        checkpointer.close()
    return LoadedPolicy(cfg=cfg, agent=agent, actor_params=agent_state.actor_params, epoch=epoch)
