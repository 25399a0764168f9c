"""Named sweeps that reproduce the paper's experiments, and the CPU-scale depth study.

`deepcrl sweep --preset NAME` runs one; any other flag overrides the preset's value.
`deepcrl presets` lists them with the paper's numbers and the estimated GPU hours.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from deepcrl.config import ConfigError, CRLConfig, NetworkConfig, TrainConfig
from deepcrl.paper import PAPER_TASKS, TABLE1_TIME_AT_GOAL
from deepcrl.sweep import SweepSpec

PAPER_EPOCHS = 100
PAPER_TRAIN_STEPS_PER_EPOCH = 32
PAPER_ENV_STEPS = PAPER_EPOCHS * PAPER_TRAIN_STEPS_PER_EPOCH * 512 * 62
"""101,580,800: about 100M env steps in 100 epochs of whole 512 x 62 training steps. The
paper trained for 100M to 400M env steps depending on the task (FACTS.md section 3): raise
--total-env-steps (a multiple of 3,174,400) to match a task."""

PAPER_SCHEDULE = TrainConfig(
    num_envs=512,
    unroll_length=62,
    sgd_steps=800,
    total_env_steps=PAPER_ENV_STEPS,
    num_epochs=PAPER_EPOCHS,
    prefill_steps=1000,
    replay_capacity=10_000,
    num_eval_envs=128,
    chained_goals=0,
    network=NetworkConfig(depth=4, width=256),
    crl=CRLConfig(batch_size=512, actor_lr=3e-4, critic_lr=3e-4, alpha_lr=3e-4),
    progress=False,
)
"""The paper's training schedule (FACTS.md section 3): 512 envs x 62 steps, 800 SGD steps of
batch 512 per training step, Adam 3e-4, replay 10,000 per env, 100 epochs, one goal per
episode and the paper's target entropy (-0.5 per action dimension)."""


@dataclass(frozen=True)
class Preset:
    """A named sweep with what the paper found."""

    name: str
    description: str
    spec: SweepSpec
    paper: str
    """The paper's result this preset reproduces (FACTS.md)."""


def _paper(**changes: object) -> TrainConfig:
    return dataclasses.replace(PAPER_SCHEDULE, **changes)  # type: ignore[arg-type]


def _table1_text() -> str:
    rows = [f"{task} {d4:g} -> {d64:g}" for task, (d4, d64) in TABLE1_TIME_AT_GOAL.items()]
    return "time at goal (of 1000) at depth 4 -> 64: " + "; ".join(rows)


CPU_STUDY = TrainConfig(
    env="point_u_maze",
    eval_env="point_u_maze_eval",
    num_eval_envs=128,
    chained_goals=0,
    network=NetworkConfig(depth=16, width=128),
    crl=CRLConfig(actor_lr=1e-3, critic_lr=1e-3, alpha_lr=3e-3),
    progress=False,
)
"""The CPU demo schedule (128 envs x 25 steps, 32 SGD steps of batch 256, 1.5M env steps in
15 epochs) with the demo's settings from before 2026-12-02 (width 128, Adam 1e-3, the paper's
target entropy, one goal per episode, 128 eval episodes), evaluated on far goals only: the
documented CPU depth study ran with them."""

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "table1",
            "Table 1: depth 4 vs 64 on the ten tasks, 5 seeds, ~100M env steps each (the "
            "paper: 100M-400M by task)",
            SweepSpec(
                base=_paper(), envs=tuple(PAPER_TASKS), depths=(4, 64), seeds=(0, 1, 2, 3, 4)
            ),
            _table1_text(),
        ),
        Preset(
            "depth_vs_width",
            "depth 4-64 at width 256 vs width 256-2048 at depth 4 (star grid), 3 seeds",
            SweepSpec(
                base=_paper(),
                envs=("humanoid", "ant_big_maze", "arm_push_easy"),
                depths=(4, 8, 16, 32, 64),
                widths=(256, 512, 1024, 2048),
                grid="star",
            ),
            "depth 8 at width 256 beats depth 4 at width 2048 with far fewer parameters; "
            "depth grows parameters linearly, width quadratically (task choice ours: one per "
            "family)",
        ),
        Preset(
            "batch_size",
            "batch size x depth heatmap on humanoid, 3 seeds",
            SweepSpec(
                base=_paper(env="humanoid"),
                depths=(4, 16, 64),
                batch_sizes=(128, 256, 512, 1024),
            ),
            "larger batches help only once the network is deep (grid values ours)",
        ),
        Preset(
            "actor_vs_critic",
            "actor depth x critic depth heatmap on three tasks, 3 seeds",
            SweepSpec(
                base=_paper(),
                envs=("humanoid", "ant_big_maze", "arm_push_easy"),
                actor_depths=(4, 16, 64),
                critic_depths=(4, 16, 64),
            ),
            "scaling the critic matters more on humanoid and arm tasks, the actor more on "
            "ant_big_maze",
        ),
        Preset(
            "ablations",
            "no residual / no LayerNorm / ReLU vs the full network at depth 4-64 on humanoid",
            SweepSpec(
                base=_paper(env="humanoid"),
                depths=(4, 16, 64),
                ablations=("none", "no_residual", "no_layer_norm", "relu"),
            ),
            "each ablation alone breaks depth scaling",
        ),
        Preset(
            "scaling_limit",
            "depth 4 to 1024 on the humanoid mazes (actor capped at 512), 3 seeds",
            SweepSpec(
                base=_paper(),
                envs=("humanoid_u_maze", "humanoid_big_maze"),
                depths=(4, 64, 256, 512, 1024),
                actor_depth_cap=512,
                memory_budget_gb=60.0,
            ),
            "depth scaled to 256, 512 and 1024 layers on the humanoid mazes (at 1024 the "
            "actor stayed at 512: its loss exploded); performance jumps at depth 64 on "
            "humanoid_u_maze; 1024 layers took 134 h on one GPU",
        ),
        Preset(
            "cpu_depth",
            "CPU study: depth 4 vs 16 on the point-mass U-maze (far-goal eval), 5 seeds",
            SweepSpec(base=CPU_STUDY, depths=(4, 16), seeds=(0, 1, 2, 3, 4)),
            "the paper's claim at CPU scale: at equal env steps, the deeper network reaches "
            "more far goals (it must plan around the wall)",
        ),
    ]
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ConfigError naming the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown preset {name!r}; known: {', '.join(PRESETS)} (see `deepcrl presets`)"
        ) from None


def preset_spec(name: str) -> SweepSpec:
    """The sweep of preset ``name`` with its name recorded (sweep dir default sweeps/NAME)."""
    return dataclasses.replace(get_preset(name).spec, preset=name)
