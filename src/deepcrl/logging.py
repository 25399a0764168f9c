"""Metric sinks: the run loop calls them; the trainer never imports any of them."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any, Protocol

from tqdm import tqdm

from deepcrl.errors import ConfigError

Record = dict[str, Any]


class Sink(Protocol):
    """Receives one record per evaluation."""

    def log(self, record: Record) -> None:
        """Handle one record."""

    def close(self) -> None:
        """Flush and release resources."""


def _jsonable(value: Any) -> Any:
    value = float(value) if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them visible as strings
    return value


class JsonlSink:
    """Appends each record as one JSON line (metrics.jsonl); always on."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("a", encoding="utf-8")

    def log(self, record: Record) -> None:
        """Write one line and flush it so a crash loses nothing already logged."""
        self._file.write(json.dumps({k: _jsonable(v) for k, v in record.items()}) + "\n")
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class ProgressSink:
    """A progress bar over env steps showing steps/s, ETA and the latest eval score."""

    def __init__(self, total_env_steps: int, initial: int = 0) -> None:
        self._bar = tqdm(
            total=total_env_steps,
            initial=initial,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            desc="train",
        )

    def log(self, record: Record) -> None:
        """Advance to the record's env_steps and show its scores."""
        self._bar.update(int(record["env_steps"]) - self._bar.n)
        self._bar.set_postfix(
            sps=f"{float(record['training/sps']):.0f}",
            success=f"{float(record['eval/success_rate']):.2f}",
            time_at_goal=f"{float(record['eval/time_at_goal']):.1f}",
            refresh=True,
        )

    def close(self) -> None:
        """Finish the bar."""
        self._bar.close()


class LineSink:
    """One plain line per evaluation (for logs and non-interactive terminals)."""

    def log(self, record: Record) -> None:
        """Print the record's headline numbers."""
        print(
            f"epoch {record['epoch']:>4}  env_steps {record['env_steps']:>10}  "
            f"success {float(record['eval/success_rate']):.3f}  "
            f"time_at_goal {float(record['eval/time_at_goal']):7.1f}  "
            f"critic/loss {float(record['critic/loss']):.3f}  "
            f"sps {float(record['training/sps']):.0f}",
            flush=True,
        )

    def close(self) -> None:
        """Nothing to release."""


def require_extra(module: str, extra: str) -> Any:
    """Import an optional dependency or raise a one-line ConfigError naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(
            f"--{extra} needs the optional package {module!r}: pip install 'deepcrl[{extra}]'"
        ) from err


def _scalars(record: Record) -> dict[str, float]:
    """The numeric entries of a record, as floats."""
    return {
        k: float(v) for k, v in record.items() if isinstance(v, int | float) and k != "env_steps"
    }


class TensorBoardSink:
    """Writes every numeric metric as a TensorBoard scalar at step = env_steps."""

    def __init__(self, log_dir: Path) -> None:
        tensorboardx = require_extra("tensorboardX", "tensorboard")
        self._writer = tensorboardx.SummaryWriter(logdir=str(log_dir))

    def log(self, record: Record) -> None:
        """Add one scalar per metric and flush."""
        step = int(record["env_steps"])
        for name, value in _scalars(record).items():
            self._writer.add_scalar(name, value, global_step=step)
        self._writer.flush()

    def close(self) -> None:
        """Close the event file."""
        self._writer.close()


class WandbSink:
    """Logs every numeric metric to Weights & Biases (offline mode needs no network)."""

    def __init__(
        self, run_dir: Path, project: str, mode: str, config: dict[str, Any], name: str
    ) -> None:
        wandb = require_extra("wandb", "wandb")
        self._run = wandb.init(
            project=project, mode=mode, dir=str(run_dir), config=config, name=name, reinit=True
        )

    def log(self, record: Record) -> None:
        """Log one step keyed by env_steps."""
        self._run.log({**_scalars(record), "env_steps": int(record["env_steps"])})

    def close(self) -> None:
        """Finish the W&B run (offline: leaves RUN_DIR/wandb/offline-run-* to sync later)."""
        self._run.finish()
