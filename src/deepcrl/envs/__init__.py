"""Goal-conditioned tasks: ``make(name)`` builds a registered task; wrappers batch them."""

# Task modules are imported for their side effect: their tasks register their names. The
# Brax tasks import brax only when built (brax_common), so this stays fast without it.
from deepcrl.envs import (
    ant,
    ant_ball,
    ant_maze,
    ant_push,
    arm,
    humanoid,
    humanoid_maze,
    maze_task,
    point_mass,
    pusher,
    reacher,
    wrappers,
)
from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.registry import EnvSpec, UnknownEnvError, list_envs, make, register

__all__ = [
    "EnvSpec",
    "EnvState",
    "GoalEnv",
    "UnknownEnvError",
    "ant",
    "ant_ball",
    "ant_maze",
    "ant_push",
    "arm",
    "humanoid",
    "humanoid_maze",
    "list_envs",
    "make",
    "maze_task",
    "point_mass",
    "pusher",
    "reacher",
    "register",
    "wrappers",
]
