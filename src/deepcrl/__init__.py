"""deepcrl: self-supervised goal-conditioned RL with very deep residual networks."""

__version__ = "0.1.0"
