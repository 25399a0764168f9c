"""The paper's tasks and numbers (Wang et al., NeurIPS 2025; see ../shared/FACTS.md).

Only facts live here: the published task shapes (tests check our envs against them) and the
published results the presets are compared against.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskDims:
    """Shapes of a task that the parameter and FLOP counts need."""

    state_dim: int
    goal_dim: int
    action_dim: int
    episode_length: int


ANT = TaskDims(state_dim=29, goal_dim=2, action_dim=8, episode_length=1000)
HUMANOID = TaskDims(state_dim=268, goal_dim=3, action_dim=17, episode_length=1000)
ARM = TaskDims(state_dim=17, goal_dim=3, action_dim=5, episode_length=1000)

PAPER_TASKS: dict[str, TaskDims] = {
    "arm_binpick_hard": ARM,
    "arm_push_easy": ARM,
    "arm_push_hard": ARM,
    "ant_u4_maze": ANT,
    "ant_u5_maze": ANT,
    "ant_big_maze": ANT,
    "ant_hardest_maze": ANT,
    "humanoid": HUMANOID,
    "humanoid_u_maze": HUMANOID,
    "humanoid_big_maze": HUMANOID,
}
"""The ten tasks of the paper's Table 1, in its order, with their shapes (FACTS.md section 4)."""

TABLE1_TIME_AT_GOAL: dict[str, tuple[float, float]] = {
    "arm_binpick_hard": (38, 219),
    "arm_push_easy": (308, 762),
    "arm_push_hard": (171, 410),
    "ant_u4_maze": (11.4, 286),
    "ant_u5_maze": (0.97, 61),
    "ant_big_maze": (61, 441),
    "ant_hardest_maze": (215, 387),
    "humanoid": (12.6, 649),
    "humanoid_u_maze": (3.2, 159),
    "humanoid_big_maze": (0.06, 59),
}
"""Time at goal out of 1000 steps at depth 4 and depth 64 (Table 1, 5 seeds)."""

WALL_CLOCK_HOURS: dict[tuple[str, int], float] = {
    ("humanoid", 4): 1.5,
    ("humanoid", 64): 11.0,
    ("humanoid_u_maze", 1024): 134.0,
}
"""Reported wall clock of one 100-epoch run on one 80 GB GPU, by (task, depth)."""
