"""Errors a user can act on; the CLI prints them as one line and exits non-zero."""

from __future__ import annotations


class DeepcrlError(Exception):
    """Base class: a problem with the user's input or run, not a bug in deepcrl."""


class ConfigError(DeepcrlError, ValueError):
    """A bad setting, reported as one line naming the field and the fix."""


class CheckpointError(DeepcrlError):
    """A missing, foreign or unreadable checkpoint or run directory."""


class DivergenceError(DeepcrlError):
    """Training produced a non-finite loss or parameter; the run was stopped."""
