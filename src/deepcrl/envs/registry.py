"""Task registry: env name -> factory. Task modules register themselves at import."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any

from deepcrl.config import ConfigError
from deepcrl.envs.base import GoalEnv


class UnknownEnvError(ConfigError):
    """Raised by ``make`` for a name nobody registered."""


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """A registered task."""

    name: str
    """Registry key passed to ``make``."""
    factory: Callable[..., GoalEnv]
    """Builds the env; keyword arguments override the task's defaults."""
    description: str
    """One line for ``deepcrl envs`` style listings."""
    cpu_friendly: bool = True
    """Whether a short run is practical on a laptop CPU (pure-JAX, no physics engine)."""


_REGISTRY: dict[str, EnvSpec] = {}


def register(
    name: str,
    factory: Callable[..., GoalEnv],
    *,
    description: str,
    cpu_friendly: bool = True,
    overwrite: bool = False,
) -> EnvSpec:
    """Register ``factory`` under ``name`` (a duplicate name is an error unless ``overwrite``)."""
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"env {name!r} is already registered")
    spec = EnvSpec(name=name, factory=factory, description=description, cpu_friendly=cpu_friendly)
    _REGISTRY[name] = spec
    return spec


def closest_names(name: str, limit: int = 3) -> list[str]:
    """Up to ``limit`` registered names most similar to ``name`` (best first)."""
    names = sorted(_REGISTRY)
    return difflib.get_close_matches(name, names, n=limit) or difflib.get_close_matches(
        name, names, n=limit, cutoff=0.0
    )


def get_spec(name: str) -> EnvSpec:
    """The spec registered under ``name``; raises UnknownEnvError naming close matches."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = ", ".join(closest_names(name)) or "none registered"
        raise UnknownEnvError(f"unknown env {name!r}; closest: {close}") from None


def make(name: str, **kwargs: Any) -> GoalEnv:
    """Build the env registered as ``name``; ``kwargs`` override its defaults."""
    return get_spec(name).factory(**kwargs)


def list_envs() -> list[EnvSpec]:
    """All registered specs, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]
