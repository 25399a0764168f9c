"""`deepcrl report` on a small fake sweep with hand-computed scores."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from deepcrl.config import CRLConfig, NetworkConfig, TrainConfig
from deepcrl.report import load_sweep, write_report
from deepcrl.sweep import SweepSpec, make_plan, plan_json

BASE = TrainConfig(
    env="point_arena",
    episode_length=20,
    num_envs=8,
    unroll_length=10,
    sgd_steps=2,
    total_env_steps=8 * 10 * 7,
    num_epochs=7,
    prefill_steps=20,
    replay_capacity=100,
    num_eval_envs=8,
    network=NetworkConfig(depth=4, width=16, repr_dim=8),
    crl=CRLConfig(batch_size=16),
)

# Last-5 means of time at goal per (depth, batch) and seed.
SCORES = {
    (4, 16): [1.0, 2.0, 3.0, 4.0, 10.0],  # mean 4, se sqrt(12.5/5) = 1.58, IQM 3
    (8, 16): [6.0, 6.0, 6.0, 6.0, 6.0],
    (4, 32): [0.0, 1.0, 2.0, 3.0, 4.0],
    (8, 32): [5.0, 7.0, 9.0, 11.0, 13.0],  # mean 9, se sqrt(10/5) = 1.41
}


def fake_sweep(root: Path, unfinished: str | None = None) -> Path:
    """A planned sweep whose runs hold made-up metrics with known scores."""
    spec = SweepSpec(
        base=BASE, sweep_dir=root, depths=(4, 8), batch_sizes=(16, 32), seeds=(0, 1, 2, 3, 4)
    )
    plan = make_plan(spec, device="cpu")
    root.mkdir(parents=True)
    (root / "sweep.json").write_text(json.dumps(plan_json(plan)))
    for p in plan.points:
        run_dir = root / p.name
        run_dir.mkdir()
        score = SCORES[(p.coords["depth"], p.coords["batch_size"])][p.coords["seed"]]
        # Two early evaluations that the score must ignore, then five at `score`.
        values = [100.0, 100.0] + [score] * 5
        lines = [
            {
                "epoch": e + 1,
                "env_steps": 80 * (e + 1),
                "eval/time_at_goal": v,
                "eval/success_rate": v / 20,
            }
            for e, v in enumerate(values)
        ]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        if p.name != unfinished:
            done = {
                "wall_s": 90.0,
                "seeds_in_process": 5,
                "host_peak_bytes": 512 * 2**20,
                "device_peak_bytes": None,
            }
            (run_dir / "done.json").write_text(json.dumps(done))
    return root


def test_report_tables_hold_hand_computed_scores(tmp_path: Path) -> None:
    sweep_dir = fake_sweep(tmp_path / "sweep")
    md_path = write_report(sweep_dir)
    md = md_path.read_text()
    rows = {
        line.split(" | ")[0].lstrip("| "): line
        for line in md.splitlines()
        if line.startswith("| point_arena")
    }
    assert set(rows) == {
        "point_arena-d4-b16",
        "point_arena-d4-b32",
        "point_arena-d8-b16",
        "point_arena-d8-b32",
    }
    assert "| 4 ± 1.58; IQM 3 [" in rows["point_arena-d4-b16"]
    assert "| 9 ± 1.41; IQM 9 [" in rows["point_arena-d8-b32"]
    assert "| 6 ± 0; IQM 6 [6, 6] |" in rows["point_arena-d8-b16"]
    assert "| 0.2 ± 0.0791;" in rows["point_arena-d4-b16"]  # success rate = score / 20
    assert "5/5" in rows["point_arena-d4-b16"] and "512 MiB" in rows["point_arena-d4-b16"]
    assert "90 s (5 seeds)" in rows["point_arena-d4-b16"]
    # Depth 8 vs 4 at batch 32: 9 - 2 = +7, se sqrt(2 + 0.5).
    assert "time at goal at depth 8 = 9 vs depth 4 = 2: difference +7 ± 1.6" in md
    out = md_path.parent
    for png in ("score_vs_depth.png", "heatmap_batch_depth.png", "learning_curves.png"):
        assert (out / png).stat().st_size > 1000 and f"]({png})" in md
    assert not (out / "heatmap_actor_critic.png").exists()  # actor and critic never differ
    html = (out / "report.html").read_text()
    assert html.count("<img") == 3 and "<table>" in html and "4 ± 1.58" in html


def test_unfinished_runs_are_not_scored(tmp_path: Path) -> None:
    sweep_dir = fake_sweep(tmp_path / "sweep", unfinished="point_arena-d4-b16-s4")
    data = load_sweep(sweep_dir)
    group = next(g for g in data.groups if g.name == "point_arena-d4-b16")
    assert len(group.runs) == 5 and len(group.finished) == 4
    assert group.score("time_at_goal").mean == 2.5  # seeds 0-3: 1, 2, 3, 4
    md = write_report(sweep_dir, tmp_path / "out", title="Custom").read_text()
    assert md.startswith("# Custom") and "4/5" in md


def test_width_and_actor_critic_figures_appear_when_those_axes_vary(tmp_path: Path) -> None:
    root = tmp_path / "sweep"
    spec = SweepSpec(
        base=BASE, sweep_dir=root, depths=(4, 8), widths=(16, 32), grid="star", seeds=(0,)
    )
    ac = SweepSpec(
        base=BASE, sweep_dir=tmp_path / "ac", actor_depths=(4, 8), critic_depths=(4, 8), seeds=(0,)
    )
    for s in (spec, ac):
        plan = make_plan(dataclasses.replace(s), device="cpu")
        assert plan.sweep_dir is not None
        plan.sweep_dir.mkdir()
        (plan.sweep_dir / "sweep.json").write_text(json.dumps(plan_json(plan)))
        for p in plan.points:
            (plan.sweep_dir / p.name).mkdir()
            rec = {
                "epoch": 1,
                "env_steps": 80,
                "eval/time_at_goal": float(p.coords["depth"]),
                "eval/success_rate": 0.5,
            }
            (plan.sweep_dir / p.name / "metrics.jsonl").write_text(json.dumps(rec) + "\n")
            (plan.sweep_dir / p.name / "done.json").write_text(json.dumps({"wall_s": 1.0}))
    assert (write_report(root).parent / "params_depth_vs_width.png").is_file()
    assert (write_report(tmp_path / "ac").parent / "heatmap_actor_critic.png").is_file()
