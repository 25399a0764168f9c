"""Deep residual networks: the tower, the critic encoders and the tanh-Gaussian actor.

A residual block is 4 x (Dense(width) -> LayerNorm -> Swish) with the block input added to
the output of the 4th activation. All blocks of a tower share one shape, so their parameters
are stacked on a leading axis and run as a ``lax.scan``: the compiled program, and so the
compile time, does not grow with depth.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from deepcrl.config import BLOCK_LAYERS, TowerConfig

Params = Any

LOG_STD_MIN = -5.0
LOG_STD_MAX = 2.0
LAYER_NORM_EPS = 1e-6

# Uniform variance scaling, scale 1/3, fan_in, on every Dense (FACTS.md section 2).
dense_init = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")


def _activation(name: str) -> Callable[[jax.Array], jax.Array]:
    return {"swish": nn.swish, "relu": nn.relu}[name]


def _layer_norm(x: jax.Array, scale: jax.Array, bias: jax.Array) -> jax.Array:
    """LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * scale + bias."""
    mean = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + LAYER_NORM_EPS) * scale + bias


def block_apply(cfg: TowerConfig, block: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """One residual block; ``block`` holds per-layer params with a leading axis of 4."""
    act = _activation(cfg.activation)
    h = x
    for layer in range(BLOCK_LAYERS):
        h = h @ block["kernel"][layer] + block["bias"][layer]  # (..., width)
        if cfg.layer_norm:
            h = _layer_norm(h, block["ln_scale"][layer], block["ln_bias"][layer])
        h = act(h)
    return h + x if cfg.residual else h


def blocks_apply(cfg: TowerConfig, blocks: dict[str, jax.Array], x: jax.Array) -> jax.Array:
    """All residual blocks; ``blocks`` leaves have a leading axis of num_blocks."""
    block_fn = lambda b, h: block_apply(cfg, b, h)
    if cfg.remat:
        block_fn = jax.checkpoint(block_fn)
    if cfg.scan_blocks:
        x, _ = jax.lax.scan(lambda h, b: (block_fn(b, h), None), x, blocks, unroll=cfg.scan_unroll)
        return x
    for i in range(cfg.num_blocks):
        x = block_fn(jax.tree.map(lambda leaf, i=i: leaf[i], blocks), x)
    return x


class ResidualTower(nn.Module):
    """Dense -> LayerNorm -> act, then depth/4 residual blocks; output (..., width)."""

    cfg: TowerConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """Map (..., in_dim) inputs to (..., width) features."""
        cfg = self.cfg
        if cfg.depth < BLOCK_LAYERS or cfg.depth % BLOCK_LAYERS:
            raise ValueError(f"tower depth {cfg.depth} is not a positive multiple of 4")
        x = nn.Dense(cfg.width, kernel_init=dense_init, name="input")(x)
        if cfg.layer_norm:
            x = nn.LayerNorm(epsilon=LAYER_NORM_EPS, name="input_norm")(x)
        x = _activation(cfg.activation)(x)
        n, w = cfg.num_blocks, cfg.width
        blocks = {
            # kernel: (num_blocks, 4, width, width); fan_in = width (axis -2).
            "kernel": self.param(
                "kernel",
                nn.initializers.variance_scaling(
                    1 / 3, "fan_in", "uniform", in_axis=-2, out_axis=-1, batch_axis=(0, 1)
                ),
                (n, BLOCK_LAYERS, w, w),
            ),
            "bias": self.param("bias", nn.initializers.zeros, (n, BLOCK_LAYERS, w)),
        }
        if cfg.layer_norm:
            blocks["ln_scale"] = self.param("ln_scale", nn.initializers.ones, (n, BLOCK_LAYERS, w))
            blocks["ln_bias"] = self.param("ln_bias", nn.initializers.zeros, (n, BLOCK_LAYERS, w))
        return blocks_apply(cfg, blocks, x)


class Encoder(nn.Module):
    """Critic encoder: tower then Dense(repr_dim); used for both phi(s,a) and psi(g)."""

    tower: TowerConfig
    repr_dim: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """(..., in_dim) -> (..., repr_dim) embedding."""
        h = ResidualTower(self.tower, name="tower")(x)
        return nn.Dense(self.repr_dim, kernel_init=dense_init, name="out")(h)


class Actor(nn.Module):
    """Tanh-Gaussian policy over concat(state, goal): returns (mean, log_std)."""

    tower: TowerConfig
    action_dim: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(..., obs_dim) -> mean, log_std, each (..., action_dim); log_std in [-5, 2]."""
        h = ResidualTower(self.tower, name="tower")(obs)
        mean = nn.Dense(self.action_dim, kernel_init=dense_init, name="mean")(h)
        raw = nn.Dense(self.action_dim, kernel_init=dense_init, name="log_std")(h)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw) + 1.0)
        return mean, log_std


def tanh_log_det(u: jax.Array) -> jax.Array:
    """log |d tanh(u)/du| = 2 (log 2 - u - softplus(-2u)), numerically stable."""
    return 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))


def sample_tanh_gaussian(
    key: jax.Array, mean: jax.Array, log_std: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Reparameterised action tanh(mean + std*eps) and its log-probability (summed over dims)."""
    eps = jax.random.normal(key, mean.shape, mean.dtype)
    u = mean + jnp.exp(log_std) * eps
    # log N(u; mean, std) = -eps^2/2 - log std - log(2 pi)/2, per dimension.
    gauss = -0.5 * jnp.square(eps) - log_std - 0.5 * jnp.log(2.0 * jnp.pi)
    log_prob = jnp.sum(gauss - tanh_log_det(u), axis=-1)
    return jnp.tanh(u), log_prob


def count_params(params: Params) -> int:
    """Number of scalars in a parameter pytree."""
    return int(sum(leaf.size for leaf in jax.tree.leaves(params)))
