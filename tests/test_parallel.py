"""Data-parallel training: exact global-batch updates, sharding layout, N -> M resume, multi-host.

Multi-device checks need fake CPU devices, which must be configured before JAX starts, so
they run tests/parallel_cases.py (or the CLI) in a fresh process with
XLA_FLAGS=--xla_force_host_platform_device_count=N. The rest runs here on one device.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from deepcrl import envs, parallel
from deepcrl.config import ConfigError, CRLConfig, NetworkConfig, TrainConfig
from deepcrl.training import make_trainer

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "parallel_cases.py"


def device_env(devices: int, **extra: str) -> dict[str, str]:
    """Environment of a child process with ``devices`` fake CPU devices and this source tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "SLURM_"))}
    flags = env.get("XLA_FLAGS", "")
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={devices}".strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env | extra


def run_case(name: str, fake_devices: int, **kwargs: Any) -> dict[str, Any]:
    """Run one case of parallel_cases.py in a process with ``fake_devices``; its JSON result."""
    proc = subprocess.run(
        [sys.executable, str(CASES), name, json.dumps(kwargs)],
        env=device_env(fake_devices),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["devices"] == fake_devices
    return result


TINY_ARGS = [
    "--env=point_arena",
    "--num-envs=16",
    "--unroll-length=10",
    "--sgd-steps=4",
    "--total-env-steps=640",
    "--num-epochs=2",
    "--prefill-steps=50",
    "--replay-capacity=120",
    "--num-eval-envs=16",
    "--depth=4",
    "--width=32",
    "--repr-dim=16",
    "--batch-size=32",
    "--no-progress",
]


def cli(args: list[str], devices: int, **extra: str) -> subprocess.Popen[str]:
    """Start `deepcrl train` in a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "deepcrl.cli", "train", *args],
        env=device_env(devices, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# ---- on fake devices, in child processes --------------------------------------------------
def test_one_sgd_step_is_the_same_on_1_2_and_4_devices() -> None:
    """Same global batch and key: the same parameters and Adam moments on any device count.

    Adam's step hardly changes if gradients are summed instead of averaged, but its first
    moments would grow n-fold: mu_scale shows such an error would be far above tolerance.
    """
    result = run_case("sgd_step", 4, device_counts=[1, 2, 4])
    for n in ("2", "4"):
        assert result[n]["state"] < 1e-5, result[n]
        assert result[n]["metrics"] < 1e-4, result[n]
        assert result[n]["mu_scale"] > 1e3 * 1e-5


def test_init_and_prefill_are_identical_on_1_and_4_devices() -> None:
    """Collection is partitioned, not re-seeded: env states and buffer match one device."""
    result = run_case("init_everywhere", 4, device_counts=[1, 4])
    assert result["4"] < 1e-6


def test_epoch_never_moves_env_or_buffer_data_between_devices() -> None:
    """Every collective in the compiled epoch is parameter- or batch-sized, never per-env."""
    result = run_case("collectives", 4, devices=4)
    shapes = result["shapes"]
    assert shapes, "expected gradient all-reduces in a 4-device epoch"
    per_env = {result["num_envs"], result["capacity"]}
    assert not [s for s in shapes if per_env & set(s)], shapes


def test_short_run_on_4_devices_learns() -> None:
    """The point-mass arena task measurably improves within a few epochs on 4 devices."""
    result = run_case("learns", 4, devices=4)
    before, after = result["before"], result["after"]
    assert result["buffer_devices"] == 4
    assert after["eval/success_rate"] >= before["eval/success_rate"] + 0.2, result
    assert after["eval/final_distance"] < 0.6 * before["eval/final_distance"], result


@pytest.mark.parametrize(("devices_from", "devices_to"), [(4, 2), (1, 4)])
def test_checkpoint_written_on_n_devices_resumes_on_m(
    devices_from: int, devices_to: int, tmp_path: Path
) -> None:
    """An orbax checkpoint of an N-device run restores exactly onto M devices and resumes."""
    result = run_case(
        "resume", 4, devices_from=devices_from, devices_to=devices_to, run_dir=str(tmp_path / "r")
    )
    assert result["restored_diff"] == 0.0
    assert result["buffer_devices"] == devices_to
    assert result["epochs"] == [1, 2]
    assert result["env_steps"] == result["total_env_steps"]
    assert result["finite"]


def test_cli_rejects_bad_splits_before_compiling() -> None:
    """One line naming the field and the fix, exit status 2."""
    cases = {
        ("--devices=3",): "num_envs=16 does not split over 3 devices: use 15 or 18",
        ("--devices=4", "--batch-size=30"): "batch_size=30 does not split over 4 devices",
        ("--devices=8",): "devices=8: 4 cpu device(s) are available",
    }
    for extra, message in cases.items():
        proc = cli([*TINY_ARGS, *extra], devices=4)
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 2, (out, err)
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("deepcrl: error: "), err
        assert message in lines[0], err
        assert not out  # nothing printed: it failed before the schedule and any compile


def test_two_processes_agree_with_one_process_on_two_devices(tmp_path: Path) -> None:
    """Two localhost processes (JAX coordinator, one CPU device each) = one with two devices.

    Only process 0 prints and writes the run directory.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path / "multi"
    coordinator = {"JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2"}
    procs = [
        cli([*TINY_ARGS, f"--run-dir={run_dir}"], 1, **coordinator, JAX_PROCESS_ID=str(i))
        for i in range(2)
    ]
    single = cli([*TINY_ARGS, f"--run-dir={tmp_path / 'single'}"], devices=2)
    try:
        outputs = [p.communicate(timeout=540) for p in [*procs, single]]
    finally:  # a process left waiting for its peer must not outlive the test
        for p in [*procs, single]:
            if p.poll() is None:
                p.kill()
    for p, (out, err) in zip([*procs, single], outputs, strict=True):
        assert p.returncode == 0, (out, err[-3000:])
    assert "2 devices (cpu) in 2 processes: 8 envs, batch 16 and 8 eval envs" in outputs[0][0]
    assert "2 devices (cpu) in 1 process: 8 envs, batch 16" in outputs[2][0]
    assert "done:" not in outputs[1][0] and "epoch" not in outputs[1][0]

    def records(path: Path) -> list[dict[str, float]]:
        lines = (path / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    multi, one = records(run_dir), records(tmp_path / "single")
    assert len(multi) == len(one) == 2
    for a, b in zip(multi, one, strict=True):
        for k, v in b.items():
            if not k.startswith(("time/", "training/sps")):
                assert a[k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["device"]["count"] == 2 and saved["device"]["processes"] == 2


# ---- on this process's single device --------------------------------------------------------
def tiny_trainer() -> Any:
    """A trainer on a one-device mesh."""
    cfg = TrainConfig(
        env="point_arena",
        num_envs=8,
        unroll_length=10,
        sgd_steps=2,
        total_env_steps=8 * 10 * 2,
        num_epochs=2,
        prefill_steps=50,
        replay_capacity=100,
        num_eval_envs=4,
        network=NetworkConfig(depth=4, width=16, repr_dim=8),
        crl=CRLConfig(batch_size=16),
    )
    return make_trainer(cfg, envs.make(cfg.env), mesh=parallel.make_mesh(1))


def test_only_per_env_leaves_are_split() -> None:
    trainer = tiny_trainer()
    abstract = jax.eval_shape(trainer.init, jax.random.PRNGKey(0))
    shardings = parallel.state_shardings(trainer.mesh, abstract)
    split = jax.sharding.PartitionSpec(parallel.DATA)
    env_specs = {s.spec for s in jax.tree.leaves([shardings.env_state, shardings.buffer.data])}
    assert env_specs == {split}
    other = [shardings.agent, shardings.key, shardings.env_steps, shardings.buffer.insert_pos]
    assert {s.spec for s in jax.tree.leaves(other)} == {jax.sharding.PartitionSpec()}
    # Every per-env leaf really has the env axis first.
    for leaf in jax.tree.leaves([abstract.env_state, abstract.buffer.data]):
        assert leaf.shape[0] == trainer.cfg.num_envs


def test_shard_state_round_trips_host_arrays() -> None:
    trainer = tiny_trainer()
    ts = jax.jit(trainer.init)(jax.random.PRNGKey(0))
    host = parallel.to_host(ts)
    assert all(isinstance(x, np.ndarray) for x in jax.tree.leaves(host))
    placed = parallel.shard_state(host, trainer.mesh)
    for a, b in zip(jax.tree.leaves(host), jax.tree.leaves(placed), strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))
    # And it trains from there.
    new, _ = jax.jit(trainer.train_epoch)(placed)
    assert int(new.train_steps) == trainer.cfg.train_steps_per_epoch


def test_mesh_with_more_devices_than_available_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"devices=2: 1 cpu device\(s\) are available"):
        parallel.make_mesh(jax.device_count() + 1)


def test_split_is_described_per_device() -> None:
    mesh = parallel.make_mesh(1)
    text = parallel.describe_split(mesh, 128, 256, 64)
    assert text == "1 device (cpu) in 1 process: 128 envs, batch 256 and 64 eval envs per device"


def test_distributed_start_needs_every_coordinator_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    assert parallel.init_distributed() is False  # nothing set: a plain single process
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "127.0.0.1:1")
    with pytest.raises(ConfigError, match="JAX_NUM_PROCESSES and JAX_PROCESS_ID"):
        parallel.init_distributed()
