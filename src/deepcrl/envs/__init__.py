"""Goal-conditioned tasks: ``make(name)`` builds a registered task; wrappers batch them."""

# point_mass is imported for its side effect: its tasks register their names.
from deepcrl.envs import point_mass, wrappers
from deepcrl.envs.base import EnvState, GoalEnv
from deepcrl.envs.registry import EnvSpec, UnknownEnvError, list_envs, make, register

__all__ = [
    "EnvSpec",
    "EnvState",
    "GoalEnv",
    "UnknownEnvError",
    "list_envs",
    "make",
    "point_mass",
    "register",
    "wrappers",
]
