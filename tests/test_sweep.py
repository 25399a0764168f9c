"""Sweeps: grid expansion, bad input, planning, resume, and vmapped seeds == separate runs."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from deepcrl import sweep
from deepcrl.config import ConfigError, CRLConfig, NetworkConfig, TrainConfig
from deepcrl.logging import Record
from deepcrl.presets import PRESETS, get_preset, preset_spec
from deepcrl.runner import train
from deepcrl.sweep import SweepSpec, expand, make_plan, run_sweep

TINY = TrainConfig(
    env="point_arena",
    episode_length=20,
    num_envs=8,
    unroll_length=10,
    sgd_steps=2,
    total_env_steps=8 * 10 * 3 * 2,
    num_epochs=2,
    prefill_steps=20,
    replay_capacity=100,
    num_eval_envs=8,
    network=NetworkConfig(depth=4, width=16, repr_dim=8),
    crl=CRLConfig(batch_size=16),
    progress=False,
)


def spec(tmp_path: Path, **changes: object) -> SweepSpec:
    """A sweep of TINY runs in tmp_path, in this process."""
    base = SweepSpec(base=TINY, sweep_dir=tmp_path / "sweep", seeds=(0,), isolate=False)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


# ---- expansion ---------------------------------------------------------------------------


def test_product_grid_expands_every_combination_times_seeds(tmp_path: Path) -> None:
    points = expand(spec(tmp_path, depths=(4, 8), batch_sizes=(16, 32), seeds=(0, 1, 2)))
    assert len(points) == 2 * 2 * 3
    assert len({p.name for p in points}) == 12 and len({p.group for p in points}) == 4
    p = next(p for p in points if p.name == "point_arena-d8-b32-s2")
    assert (p.cfg.network.depth, p.cfg.crl.batch_size, p.cfg.seed) == (8, 32, 2)
    assert p.cfg.run_dir == tmp_path / "sweep" / "point_arena-d8-b32-s2"
    assert p.group == "point_arena-d8-b32"
    assert p.coords["actor_depth"] == p.coords["critic_depth"] == 8


def test_star_grid_varies_one_axis_at_a_time(tmp_path: Path) -> None:
    points = expand(spec(tmp_path, depths=(4, 8, 12), widths=(16, 32), grid="star"))
    shapes = {(p.coords["depth"], p.coords["width"]) for p in points}
    # depth at the base width 16, width at the base depth 4; the centre (4, 16) once.
    assert shapes == {(4, 16), (8, 16), (12, 16), (4, 32)}
    assert len(points) == 4


def test_actor_critic_ablation_and_env_axes(tmp_path: Path) -> None:
    points = expand(
        spec(
            tmp_path,
            envs=("point_arena", "point_u_maze"),
            actor_depths=(4, 8),
            critic_depths=(8,),
            ablations=("none", "no_residual", "no_layer_norm", "relu"),
            base=dataclasses.replace(TINY, episode_length=None, prefill_steps=100),
        )
    )
    assert len(points) == 2 * 2 * 1 * 4
    nets = {p.name: p.cfg.network for p in points}
    assert not nets["point_u_maze-a8-c8-no_residual-s0"].residual
    assert not nets["point_arena-a4-c8-no_layer_norm-s0"].layer_norm
    assert nets["point_arena-a4-c8-relu-s0"].activation == "relu"
    assert nets["point_arena-a4-c8-full-s0"] == dataclasses.replace(
        TINY.network, actor_depth=4, critic_depth=8
    )
    assert {p.cfg.env for p in points} == {"point_arena", "point_u_maze"}


def test_actor_depth_cap_keeps_the_actor_shallower(tmp_path: Path) -> None:
    points = expand(spec(tmp_path, depths=(4, 8, 12), actor_depth_cap=8))
    towers = {p.coords["depth"]: p.cfg.network.actor_tower.depth for p in points}
    assert towers == {4: 4, 8: 8, 12: 8}
    assert all(p.cfg.network.critic_tower.depth == p.coords["depth"] for p in points)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"depths": ()}, "--depths was given no values"),
        ({"seeds": ()}, "--seeds was given no values"),
        ({"envs": ()}, "--envs was given no values"),
        ({"depths": (4, 6)}, "depth=6"),
        ({"widths": (0,)}, "must be positive"),
        ({"batch_sizes": (1000,)}, "batch_size=1000 exceeds"),
        ({"envs": ("point_u_maz",)}, "point_u_maze"),
        ({"base": dataclasses.replace(TINY, run_dir=Path("x"))}, "--sweep-dir"),
        ({"memory_budget_gb": 0.0}, "memory_budget_gb"),
    ],
)
def test_bad_grids_are_one_line_config_errors(tmp_path: Path, changes: dict, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_plan(spec(tmp_path, **changes))
    assert fragment in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "sweep").exists()


def test_default_sweep_dir_is_stable_so_a_rerun_resumes(tmp_path: Path) -> None:
    s = dataclasses.replace(spec(tmp_path, depths=(4, 8), widths=(16,)), sweep_dir=None)
    assert make_plan(s).sweep_dir == Path("runs/sweeps/point_arena-depth-width")
    assert make_plan(dataclasses.replace(s, preset="cpu_depth")).sweep_dir == Path(
        "runs/sweeps/cpu_depth"
    )


def test_unknown_preset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown preset 'tabel1'; known: table1"):
        get_preset("tabel1")


def test_every_preset_plans_with_paper_numbers_and_costs() -> None:
    for name in PRESETS:
        plan = make_plan(preset_spec(name), device="gpu")
        assert plan.points and all(c.flops_per_sgd_step > 0 for c in plan.costs.values())
        assert PRESETS[name].paper
    table1 = make_plan(preset_spec("table1"), device="gpu")
    assert len(table1.points) == 10 * 2 * 5
    limit = make_plan(preset_spec("scaling_limit"), device="gpu")
    deepest = max(limit.points, key=lambda p: p.coords["depth"])
    assert deepest.coords["depth"] == 1024 and deepest.coords["actor_depth"] == 512
    assert 150e6 < limit.costs[deepest.group].params["total"] < 210e6


def test_paper_presets_use_the_papers_method_not_the_cpu_demo_settings() -> None:
    """The demo's exploration and entropy defaults must not leak into paper reproductions."""
    demo = TrainConfig()
    # What could leak:
    assert demo.chained_goals > 0 and demo.crl.target_entropy_scale != 0.5
    assert demo.crl.lr_schedule == "cosine"
    for name in PRESETS:
        base = preset_spec(name).base
        assert base.chained_goals == 0, name
        assert base.crl.target_entropy_scale == 0.5, name
        assert base.crl.lr_schedule == "constant", name
        if name != "cpu_depth":
            assert base.crl.actor_lr == base.crl.critic_lr == 3e-4, name
            assert base.num_eval_envs == 128, name


def test_unknown_task_fails_before_anything_is_written(tmp_path: Path) -> None:
    bad = dataclasses.replace(spec(tmp_path), base=dataclasses.replace(TINY, env="arm_push_eas"))
    with pytest.raises(ConfigError, match="unknown env 'arm_push_eas'; closest: arm_push_easy"):
        run_sweep(bad, verbose=False)
    assert not (tmp_path / "sweep").exists()


def test_seeds_share_a_process_within_the_memory_budget(tmp_path: Path) -> None:
    plan = make_plan(spec(tmp_path, seeds=(0, 1, 2, 3)))
    group = plan.points[0].group
    assert sweep.seeds_per_process(plan, group) >= 4
    tight = dataclasses.replace(
        plan.spec, memory_budget_gb=1.5 * plan.costs[group].memory_bytes / 2**30
    )
    assert sweep.seeds_per_process(make_plan(tight), group) == 1
    fixed = make_plan(dataclasses.replace(plan.spec, seeds_per_process=2))
    assert sweep.seeds_per_process(fixed, group) == 2


# ---- resume ------------------------------------------------------------------------------


class FakeTrainer:
    """Stands in for train_seeds: writes normal-looking run dirs, remembers what it ran."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, cfgs: Sequence[TrainConfig], verbose: bool = True) -> list[list[Record]]:
        from deepcrl.runner import prepare_run_dir

        self.calls.append([c.run_dir.name for c in cfgs if c.run_dir is not None])
        out = []
        for c in cfgs:
            assert c.run_dir is not None
            prepare_run_dir(c.run_dir, c.overwrite)
            (c.run_dir / "config.json").write_text(json.dumps({"config": c.to_dict()}))
            recs = [
                {
                    "epoch": e,
                    "env_steps": e,
                    "eval/time_at_goal": float(c.seed),
                    "eval/success_rate": 0.5,
                    "time/compile_s": 1.0,
                }
                for e in range(1, c.num_epochs + 1)
            ]
            (c.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
            out.append(recs)
        return out


def test_partial_sweep_resumes_skipping_completed_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTrainer()
    monkeypatch.setattr(sweep, "train_seeds", fake)
    s = spec(tmp_path, depths=(4, 8), seeds=(0, 1))
    first = run_sweep(s, verbose=False)
    assert fake.calls == [
        ["point_arena-d4-s0", "point_arena-d4-s1"],
        ["point_arena-d8-s0", "point_arena-d8-s1"],
    ]
    assert len(first.ran) == 4 and (tmp_path / "sweep" / "sweep.json").is_file()
    # Interrupt one run: it lost its done marker mid-way.
    (tmp_path / "sweep" / "point_arena-d8-s1" / "done.json").unlink()
    fake.calls.clear()
    second = run_sweep(s, verbose=False)
    assert fake.calls == [["point_arena-d8-s1"]]
    assert sorted(second.skipped) == ["point_arena-d4-s0", "point_arena-d4-s1", "point_arena-d8-s0"]
    # Growing the sweep by a seed runs only the new points.
    fake.calls.clear()
    run_sweep(dataclasses.replace(s, seeds=(0, 1, 2)), verbose=False)
    assert fake.calls == [["point_arena-d4-s2"], ["point_arena-d8-s2"]]
    # A changed setting under the same names is refused, unless --overwrite.
    changed = dataclasses.replace(s, base=dataclasses.replace(TINY, num_eval_envs=4))
    with pytest.raises(ConfigError, match=r"holds a different sweep .*num_eval_envs"):
        run_sweep(changed, verbose=False)
    fake.calls.clear()
    redo = dataclasses.replace(changed, base=dataclasses.replace(changed.base, overwrite=True))
    assert len(run_sweep(redo, verbose=False).ran) == 4


def test_dry_run_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_sweep(spec(tmp_path, depths=(4, 8), dry_run=True))
    out = capsys.readouterr().out
    assert "2 runs in 2 groups" in out and "FLOP" in out and "estimated" in out
    assert not (tmp_path / "sweep").exists()


# ---- vmapped seeds -----------------------------------------------------------------------


def _numbers(run_dir: Path) -> list[dict[str, float]]:
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [
        {k: v for k, v in r.items() if not k.startswith(("time/", "training/sps"))} for r in records
    ]


def test_vmapped_seeds_in_a_child_process_equal_separate_runs(tmp_path: Path) -> None:
    s = spec(tmp_path, seeds=(0, 1), isolate=True)
    result = run_sweep(s, verbose=False)
    assert result.ran == ["point_arena-d4-s0", "point_arena-d4-s1"] and not result.failed
    vmapped = tmp_path / "sweep" / "point_arena-d4-s1"
    done = json.loads((vmapped / "done.json").read_text())
    assert done["seeds_in_process"] == 2 and done["host_peak_bytes"] > 0
    alone = train(
        dataclasses.replace(TINY, seed=1, run_dir=tmp_path / "alone"), sinks=[], verbose=False
    ).run_dir
    a, b = _numbers(vmapped), _numbers(alone)
    assert len(a) == len(b) == TINY.num_epochs
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            np.testing.assert_allclose(ra[k], rb[k], rtol=1e-4, atol=1e-5, err_msg=k)
    # And the seeds really differ from each other.
    assert _numbers(tmp_path / "sweep" / "point_arena-d4-s0") != a
    saved = json.loads((vmapped / "config.json").read_text())
    assert saved["config"]["seed"] == 1 and saved["vmapped_seeds"] == [0, 1]
    assert saved["schedule"]["params"]["total"] > 0
    # Each point ends with a normal checkpoint holding its own seed's policy.
    from deepcrl.checkpoint import load_policy

    point, single = load_policy(vmapped), load_policy(alone)
    assert point.epoch == TINY.num_epochs
    obs = np.linspace(-1.0, 4.0, 16 * 4, dtype=np.float32).reshape(16, 4)
    np.testing.assert_allclose(
        np.asarray(point.agent.greedy(point.actor_params, obs)),
        np.asarray(single.agent.greedy(single.actor_params, obs)),
        atol=1e-4,
    )


# ---- command line ------------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`deepcrl ARGS` in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "deepcrl.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": "200",
            "JAX_PLATFORMS": "cpu",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
        },
        timeout=300,
    )


def test_cli_presets_lists_paper_numbers_and_gpu_hours(tmp_path: Path) -> None:
    out = run_cli("presets", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    for name in PRESETS:
        assert name in out.stdout
    assert "humanoid 12.6 -> 649" in out.stdout and "GPU h" in out.stdout


def test_cli_preset_dry_run_takes_overrides(tmp_path: Path) -> None:
    out = run_cli("sweep", "--preset", "cpu_depth", "--seeds", "0", "1", "--dry-run", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "4 runs in 2 groups" in out.stdout and "point_u_maze-d16" in out.stdout
    assert not (tmp_path / "sweeps").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["sweep", "--preset", "tabel1"], "unknown preset 'tabel1'"),
        (["sweep", "--depths", "--dry-run"], "--depths was given no values"),
        (["sweep", "--depths", "4", "10", "--dry-run"], "depth=10"),
        (["report", "nowhere"], "has no sweep.json"),
    ],
)
def test_cli_bad_sweep_input_exits_2_with_one_line(
    args: list[str], fragment: str, tmp_path: Path
) -> None:
    out = run_cli(*args, cwd=tmp_path)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1 and fragment in lines[0], out.stderr
