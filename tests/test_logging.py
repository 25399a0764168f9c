"""Optional metric sinks: TensorBoard event files and W&B offline runs hold the metrics."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from deepcrl.errors import ConfigError
from deepcrl.logging import JsonlSink, TensorBoardSink, WandbSink, require_extra
from deepcrl.runner import RunResult

RECORDS = [
    {"epoch": 1, "env_steps": 100, "eval/success_rate": 0.25, "critic/loss": 3.5},
    {"epoch": 2, "env_steps": 200, "eval/success_rate": 0.75, "critic/loss": float("nan")},
]


def read_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} from the TFRecord event files in ``log_dir``."""
    from tensorboardX.proto.event_pb2 import Event

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            # record: uint64 length, uint32 crc, payload, uint32 crc
            (length,) = struct.unpack("<Q", data[pos : pos + 8])
            event = Event.FromString(data[pos + 12 : pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_tensorboard_sink_writes_every_scalar_at_its_env_step(tmp_path: Path) -> None:
    sink = TensorBoardSink(tmp_path / "tb")
    for record in RECORDS:
        sink.log(record)
    sink.close()
    scalars = read_scalars(tmp_path / "tb")
    assert scalars["eval/success_rate"] == [(100, 0.25), (200, 0.75)]
    loss = scalars["critic/loss"]
    assert loss[0] == (100, 3.5) and math.isnan(loss[1][1])
    assert scalars["epoch"] == [(100, 1.0), (200, 2.0)]
    assert "env_steps" not in scalars


def test_wandb_offline_run_needs_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    sink = WandbSink(tmp_path, "deepcrl-test", "offline", {"depth": 4}, "run-a")
    for record in RECORDS:
        sink.log(record)
    sink.close()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    assert list(runs[0].glob("*.wandb")), "no W&B offline data file"


def test_jsonl_keeps_non_finite_values_visible(tmp_path: Path) -> None:
    sink = JsonlSink(tmp_path / "m.jsonl")
    for record in RECORDS:
        sink.log(record)
    sink.close()
    lines = (tmp_path / "m.jsonl").read_text().splitlines()
    assert '"critic/loss": "nan"' in lines[1]


def test_missing_extra_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError, match=r"pip install 'deepcrl\[foo\]'"):
        require_extra("deepcrl_no_such_module", "foo")


def test_training_run_with_tensorboard_logs_each_epoch(finished: RunResult) -> None:
    scalars = read_scalars(finished.run_dir / "tensorboard")
    steps = [step for step, _ in scalars["eval/success_rate"]]
    assert steps == [r["env_steps"] for r in finished.records]
