"""Frozen configuration dataclasses; every field's docstring is its --help text.

Data flows one way: a ``TrainConfig`` is validated (``validate``), resolved against the task
(``resolve``) and then only read. Derived quantities are properties, never mutated fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from deepcrl.errors import ConfigError

Activation = Literal["swish", "relu"]
ContrastiveLoss = Literal["fwd_infonce", "bwd_infonce", "sym_infonce", "binary_nce"]
Energy = Literal["l2", "l2_squared", "dot", "cosine"]
LrSchedule = Literal["constant", "cosine"]

__all__ = [
    "BLOCK_LAYERS",
    "CRLConfig",
    "ConfigError",
    "NetworkConfig",
    "TowerConfig",
    "TrainConfig",
]

BLOCK_LAYERS = 4
"""Dense layers per residual block; depth counts these layers."""


@dataclass(frozen=True)
class TowerConfig:
    """Shape of one residual tower (the trunk of the actor or of a critic encoder)."""

    depth: int
    width: int
    residual: bool = True
    layer_norm: bool = True
    activation: Activation = "swish"
    remat: bool = False
    scan_blocks: bool = True
    scan_unroll: int = 1

    @property
    def num_blocks(self) -> int:
        """Residual blocks in the tower (depth / 4)."""
        return self.depth // BLOCK_LAYERS


@dataclass(frozen=True)
class NetworkConfig:
    """Actor and critic architecture."""

    depth: int = 4
    """Dense layers inside the residual blocks (multiple of 4), for actor and critic alike."""
    width: int = 256
    """Hidden width of every layer, for actor and critic alike."""
    actor_depth: int | None = None
    """Actor depth; overrides --depth for the actor."""
    actor_width: int | None = None
    """Actor width; overrides --width for the actor."""
    critic_depth: int | None = None
    """Depth of both critic encoders phi(s,a) and psi(g); overrides --depth."""
    critic_width: int | None = None
    """Width of both critic encoders; overrides --width."""
    repr_dim: int = 64
    """Size of the critic embeddings phi(s,a) and psi(g)."""
    residual: bool = True
    """Residual connections every 4 layers (ablation: --no-residual)."""
    layer_norm: bool = True
    """LayerNorm after every Dense (ablation: --no-layer-norm)."""
    activation: Activation = "swish"
    """Hidden activation (ablation: relu)."""
    remat: bool = False
    """Rematerialise each residual block in the backward pass: less memory, more compute."""
    scan_blocks: bool = True
    """Run the blocks as a lax.scan over stacked parameters (compile time flat in depth);
    --no-scan-blocks unrolls them in Python (compile time grows with depth)."""
    scan_unroll: int = 1
    """Blocks per scan iteration (lax.scan unroll); larger can run faster, compiles slower."""

    def _tower(self, depth: int | None, width: int | None) -> TowerConfig:
        return TowerConfig(
            depth=self.depth if depth is None else depth,
            width=self.width if width is None else width,
            residual=self.residual,
            layer_norm=self.layer_norm,
            activation=self.activation,
            remat=self.remat,
            scan_blocks=self.scan_blocks,
            scan_unroll=self.scan_unroll,
        )

    @property
    def actor_tower(self) -> TowerConfig:
        """The actor's resolved tower shape."""
        return self._tower(self.actor_depth, self.actor_width)

    @property
    def critic_tower(self) -> TowerConfig:
        """The critic encoders' resolved tower shape."""
        return self._tower(self.critic_depth, self.critic_width)


@dataclass(frozen=True)
class CRLConfig:
    """Contrastive RL objective and optimisation."""

    batch_size: int = 256
    """Minibatch size of one SGD step (the InfoNCE logits are batch x batch)."""
    discount: float = 0.99
    """gamma of the hindsight goal distribution P(k) ~ gamma^k (no TD target uses it)."""
    contrastive_loss: ContrastiveLoss = "fwd_infonce"
    """Critic objective: softmax over goals (fwd), over state-actions (bwd), both (sym), or
    sigmoid binary NCE."""
    energy: Energy = "l2"
    """Critic value f(s,a,g) from the embeddings: -||phi-psi|| (l2), -||phi-psi||^2
    (l2_squared), phi.psi (dot), or cosine similarity."""
    logsumexp_penalty: float = 0.1
    """Weight of mean(logsumexp(logits, axis=1)^2) added to the critic loss."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of both critic encoders."""
    alpha_lr: float = 3e-4
    """Adam learning rate of log(alpha), the entropy temperature."""
    lr_schedule: LrSchedule = "constant"
    """Actor and critic learning rates: constant, or cosine-decayed to a tenth of their
    value over the run's SGD steps (alpha's stays constant)."""
    target_entropy_scale: float = 0.5
    """Target entropy = -scale * action_dim."""
    actor_random_goals: float = 0.0
    """Fraction of actor-loss goals replaced by another sample's goal from the minibatch
    (0 = relabelled goals only, the paper's setting; the original CRL code offers 0.5).
    Trains the policy on start/goal pairs the data never joined, leaning on the critic to
    stitch them."""


@dataclass(frozen=True)
class TrainConfig:
    """A full training run: task, schedule, networks, objective and outputs.

    The defaults are the CPU demo (`deepcrl train`: minutes on a laptop); the paper's
    schedule is 512 envs x 62 steps, 800 SGD steps of batch 512 per training step, Adam 3e-4,
    depth 4 to 1024 at width 256 (see docs/design.md).
    """

    env: str = "point_u_maze"
    """Task name (see `deepcrl envs`)."""
    eval_env: str | None = None
    """Task used for evaluation (e.g. a maze's far-goal `_eval` layout); default: --env."""
    episode_length: int | None = None
    """Steps per episode; default: the task's own length."""
    num_envs: int = 128
    """Parallel environments collecting experience."""
    unroll_length: int = 25
    """Env steps per environment in one training step."""
    sgd_steps: int = 32
    """SGD steps per training step; the update-to-data ratio is
    sgd_steps * batch_size / (num_envs * unroll_length)."""
    total_env_steps: int = 1_536_000
    """Env steps collected by training (prefill excluded); must split evenly into epochs."""
    num_epochs: int = 15
    """Training is cut into this many epochs, with one evaluation after each."""
    prefill_steps: int = 200
    """Env steps per environment collected before training starts (>= episode length)."""
    replay_capacity: int = 2000
    """Replay buffer length in time steps per environment."""
    num_eval_envs: int = 512
    """Environments (= episodes) per evaluation (512: the success rate reads within about
    +/-0.01 of the policy's, where 128 wandered by +/-0.03)."""
    chained_goals: int = 2
    """Exploration: while collecting training data, command up to this many further goals
    per episode, each drawn from the task's goal distribution once the previous one is
    reached (0: one goal per episode, the paper's setting); evaluation never does. CRL
    learns from hindsight goals, so this only changes where the agent goes (e.g. on from
    the U maze's bend to its far end, which a one-goal agent never visits)."""
    seed: int = 0
    """Random seed for everything."""
    devices: int | None = None
    """Devices to train on, data parallel (default: all; with several processes, all of
    every process). Envs, replay buffer, eval envs and each SGD batch are split evenly
    across them; parameters are replicated and gradients averaged over the global batch."""
    network: NetworkConfig = field(default_factory=lambda: NetworkConfig(depth=16, width=64))
    """Actor and critic architecture (CPU demo default: depth 16, width 64)."""
    crl: CRLConfig = field(
        default_factory=lambda: CRLConfig(
            alpha_lr=3e-3, target_entropy_scale=2.0, lr_schedule="cosine"
        )
    )
    """Contrastive RL objective and optimisation (CPU demo default: a lower target entropy
    than the paper's, -2 per action dimension, so that the greedy evaluation policy acts
    like the sampled one and does not stall short of a goal; cosine-decayed learning rates,
    so that the final policy stops swinging between epochs; a faster alpha)."""
    run_dir: Path | None = None
    """Where the run writes config.json and metrics.jsonl; default runs/<env>-<time>."""
    overwrite: bool = False
    """Allow writing into an existing, non-empty run directory."""
    progress: bool = True
    """Show a progress bar (off: one line per epoch)."""
    checkpoint_every: int = 1
    """Save a checkpoint every this many epochs (the last epoch is always saved; 0: only
    the last)."""
    keep_checkpoints: int = 3
    """How many of the most recent checkpoints to keep on disk."""
    checkpoint_buffer: bool = True
    """Include the replay buffer in checkpoints (exact resume); --no-checkpoint-buffer
    saves disk and refills the buffer with the restored policy on resume."""
    tensorboard: bool = False
    """Also log metrics to TensorBoard event files in RUN_DIR/tensorboard (extra:
    pip install 'deepcrl[tensorboard]')."""
    wandb: bool = False
    """Also log metrics to Weights & Biases (extra: pip install 'deepcrl[wandb]')."""
    wandb_project: str = "deepcrl"
    """W&B project name."""
    wandb_mode: Literal["online", "offline"] = "online"
    """W&B mode; offline writes RUN_DIR/wandb and needs no network (sync it later)."""

    # ---- derived schedule ------------------------------------------------------------
    @property
    def env_steps_per_train_step(self) -> int:
        """Env steps collected by one training step (num_envs * unroll_length)."""
        return self.num_envs * self.unroll_length

    @property
    def train_steps_per_epoch(self) -> int:
        """Training steps in one epoch (exact: validate() rejects remainders)."""
        return self.total_env_steps // (self.num_epochs * self.env_steps_per_train_step)

    @property
    def total_sgd_steps(self) -> int:
        """SGD steps of the whole run (prefill excluded: it trains nothing)."""
        return self.sgd_steps * self.train_steps_per_epoch * self.num_epochs

    @property
    def env_steps_per_epoch(self) -> int:
        """Env steps collected in one epoch."""
        return self.train_steps_per_epoch * self.env_steps_per_train_step

    @property
    def prefill_env_steps(self) -> int:
        """Env steps spent on the prefill, all environments together."""
        return self.prefill_steps * self.num_envs

    @property
    def transitions_per_train_step(self) -> int:
        """Relabelled transitions consumed by the SGD steps of one training step."""
        return self.sgd_steps * self.crl.batch_size

    @property
    def update_to_data_ratio(self) -> float:
        """Transitions used by SGD per transition collected."""
        return self.transitions_per_train_step / self.env_steps_per_train_step

    def with_episode_length(self, default_episode_length: int) -> TrainConfig:
        """This config with episode_length resolved against the task's default."""
        if self.episode_length is not None:
            return self
        return dataclasses.replace(self, episode_length=default_episode_length)

    @property
    def resolved_episode_length(self) -> int:
        """Episode length; only valid after with_episode_length()."""
        if self.episode_length is None:
            raise ConfigError("episode_length is unresolved: call with_episode_length first")
        return self.episode_length

    def validate(self) -> None:
        """Reject bad settings and combinations before anything is compiled."""
        _check_positive(self, "num_envs", "unroll_length", "sgd_steps", "total_env_steps")
        _check_positive(self, "num_epochs", "prefill_steps", "replay_capacity", "num_eval_envs")
        _check_positive(self.crl, "batch_size")
        _check_positive(self, "keep_checkpoints")
        if self.chained_goals < 0:
            raise ConfigError(f"chained_goals={self.chained_goals}: must be >= 0 (0: off)")
        if self.checkpoint_every < 0:
            raise ConfigError(
                f"checkpoint_every={self.checkpoint_every}: must be >= 0 (0 saves only the "
                f"last epoch)"
            )
        if self.episode_length is not None and self.episode_length < 2:
            raise ConfigError(f"episode_length={self.episode_length}: must be at least 2")
        net = self.network
        for name in ("depth", "actor_depth", "critic_depth"):
            value = getattr(net, name)
            if value is not None and (value < BLOCK_LAYERS or value % BLOCK_LAYERS):
                raise ConfigError(
                    f"{name}={value}: depth counts Dense layers in residual blocks of "
                    f"{BLOCK_LAYERS} and must be a positive multiple of {BLOCK_LAYERS} "
                    f"(try {max(BLOCK_LAYERS, round(value / BLOCK_LAYERS) * BLOCK_LAYERS)})"
                )
        for name in ("width", "actor_width", "critic_width", "repr_dim", "scan_unroll"):
            value = getattr(net, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name}={value}: must be positive")
        if not 0.0 < self.crl.discount < 1.0:
            raise ConfigError(f"discount={self.crl.discount}: must lie strictly in (0, 1)")
        for name in ("actor_lr", "critic_lr", "alpha_lr"):
            value = getattr(self.crl, name)
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{name}={value}: must be a positive finite number")
        if not 0.0 <= self.crl.actor_random_goals <= 1.0:
            raise ConfigError(
                f"actor_random_goals={self.crl.actor_random_goals}: must lie in [0, 1]"
            )
        if self.crl.logsumexp_penalty < 0:
            raise ConfigError(f"logsumexp_penalty={self.crl.logsumexp_penalty}: must be >= 0")
        if self.crl.batch_size < 2:
            raise ConfigError("batch_size must be at least 2: InfoNCE needs negatives")
        if self.crl.batch_size > self.prefill_env_steps:
            raise ConfigError(
                f"batch_size={self.crl.batch_size} exceeds the {self.prefill_env_steps} "
                f"transitions in the buffer after the prefill (num_envs*prefill_steps): lower "
                f"batch_size or raise prefill_steps"
            )
        if self.devices is not None:
            _check_positive(self, "devices")
            self.check_device_split(self.devices)
        per_epoch = self.num_epochs * self.env_steps_per_train_step
        if self.total_env_steps % per_epoch:
            lower = max(1, self.total_env_steps // per_epoch) * per_epoch
            upper = lower + per_epoch
            raise ConfigError(
                f"total_env_steps={self.total_env_steps} does not split into {self.num_epochs} "
                f"epochs of whole training steps of num_envs*unroll_length="
                f"{self.env_steps_per_train_step} env steps: use {lower} or {upper}"
            )
        if self.replay_capacity < self.prefill_steps:
            raise ConfigError(
                f"replay_capacity={self.replay_capacity} is smaller than prefill_steps="
                f"{self.prefill_steps}: raise replay_capacity"
            )
        if self.replay_capacity < self.unroll_length:
            raise ConfigError(
                f"replay_capacity={self.replay_capacity} is smaller than unroll_length="
                f"{self.unroll_length}: raise replay_capacity"
            )
        if self.episode_length is not None and self.prefill_steps < self.episode_length:
            raise ConfigError(
                f"prefill_steps={self.prefill_steps} is shorter than one episode "
                f"(episode_length={self.episode_length}): relabelling samples windows of one "
                f"episode length, so raise prefill_steps to at least {self.episode_length}"
            )

    def check_device_split(self, num_devices: int) -> None:
        """Reject envs, eval envs or batch sizes that do not split evenly over the devices."""
        for name, value in (
            ("num_envs", self.num_envs),
            ("num_eval_envs", self.num_eval_envs),
            ("batch_size", self.crl.batch_size),
        ):
            if value % num_devices:
                lower = max(num_devices, value // num_devices * num_devices)
                upper = -(-value // num_devices) * num_devices
                use = f"{lower} or {upper}" if lower != upper else str(upper)
                raise ConfigError(
                    f"{name}={value} does not split over {num_devices} devices: use {use} "
                    f"(or change --devices)"
                )

    @property
    def sample_windows(self) -> int:
        """Buffer windows drawn per training step; each offers one episode length of
        candidate transitions (see buffer.sample_relabelled).

        The SGD steps need sgd_steps * batch_size transitions with a valid future; windows
        lose candidates at episode ends and at the edges of the stored data, so draw twice
        as many as a full window would need.
        """
        window = self.resolved_episode_length
        return 2 * math.ceil(self.transitions_per_train_step / (window - 1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly nested dict of every field."""
        out = dataclasses.asdict(self)
        out["run_dir"] = None if self.run_dir is None else str(self.run_dir)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict; unknown or missing fields raise ConfigError."""
        fields = dict(data)
        fields["network"] = _from_fields(NetworkConfig, fields.get("network"), "network")
        fields["crl"] = _from_fields(CRLConfig, fields.get("crl"), "crl")
        if fields.get("run_dir") is not None:
            fields["run_dir"] = Path(fields["run_dir"])
        return _from_fields(cls, fields, "config")


def _from_fields(cls: Any, data: Any, where: str) -> Any:
    """cls(**data) with one-line errors for a stored config that does not match cls."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object of fields, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"{where} has unknown fields {unknown}: written by another deepcrl version?"
        )
    return cls(**data)


def _check_positive(obj: Any, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"{name}={value}: must be a positive integer")
