"""Critic energies, contrastive critic losses, and the actor and temperature losses.

Each loss returns (loss, info) where info holds namespaced scalar diagnostics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from deepcrl.config import ContrastiveLoss, Energy

SQRT_EPS = 1e-12
"""Added under the square root of the L2 energy so its gradient stays finite at 0."""


def _sq_dist_matrix(phi: jax.Array, psi: jax.Array) -> jax.Array:
    """(B, B) squared distances ||phi_i - psi_j||^2 from the differences themselves.

    Not |phi|^2 + |psi|^2 - 2 phi.psi: that cancels catastrophically for close pairs (the
    positives), worse under the TF32 matmuls JAX uses by default on GPU, and its gradient
    at phi_i == psi_j is rounding noise scaled by 1/sqrt(SQRT_EPS).
    """
    return jnp.sum(jnp.square(phi[:, None, :] - psi[None, :, :]), axis=-1)  # (B, B)


def _normalize(x: jax.Array) -> jax.Array:
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


def energy_matrix(phi: jax.Array, psi: jax.Array, energy: Energy) -> jax.Array:
    """logits[i, j] = f(s_i, a_i, g_j) from phi: (B, D) and psi: (B, D); returns (B, B)."""
    if energy == "l2":
        return -jnp.sqrt(_sq_dist_matrix(phi, psi) + SQRT_EPS)
    if energy == "l2_squared":
        return -_sq_dist_matrix(phi, psi)
    if energy == "dot":
        return phi @ psi.T
    if energy == "cosine":
        return _normalize(phi) @ _normalize(psi).T
    raise ValueError(f"unknown energy {energy!r}")


def energy_pairs(phi: jax.Array, psi: jax.Array, energy: Energy) -> jax.Array:
    """f(s_i, a_i, g_i) row by row, (B,): the diagonal of energy_matrix at O(B D) cost."""
    if energy == "l2":
        return -jnp.sqrt(jnp.sum(jnp.square(phi - psi), axis=-1) + SQRT_EPS)
    if energy == "l2_squared":
        return -jnp.sum(jnp.square(phi - psi), axis=-1)
    if energy == "dot":
        return jnp.sum(phi * psi, axis=-1)
    if energy == "cosine":
        return jnp.sum(_normalize(phi) * _normalize(psi), axis=-1)
    raise ValueError(f"unknown energy {energy!r}")


def _infonce(logits: jax.Array, axis: int) -> jax.Array:
    """-mean(diag - logsumexp(logits, axis)): softmax over goals (axis=1) or over (s,a) (0)."""
    return -jnp.mean(jnp.diag(logits) - jax.nn.logsumexp(logits, axis=axis))


def contrastive_loss(
    logits: jax.Array, loss: ContrastiveLoss, logsumexp_penalty: float
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Critic loss on (B, B) logits with positives on the diagonal, plus the LSE penalty."""
    batch = logits.shape[0]
    if loss == "fwd_infonce":
        base = _infonce(logits, axis=1)
    elif loss == "bwd_infonce":
        base = _infonce(logits, axis=0)
    elif loss == "sym_infonce":
        base = _infonce(logits, axis=1) + _infonce(logits, axis=0)
    elif loss == "binary_nce":
        labels = jnp.eye(batch, dtype=logits.dtype)
        base = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))
    else:
        raise ValueError(f"unknown contrastive loss {loss!r}")
    lse = jax.nn.logsumexp(logits, axis=1)  # (B,)
    total = base + logsumexp_penalty * jnp.mean(jnp.square(lse))
    diag = jnp.diag(logits)
    info = {
        "critic/loss": total,
        "critic/contrastive_loss": base,
        "critic/logsumexp": jnp.mean(lse),
        "critic/accuracy": jnp.mean(jnp.argmax(logits, axis=1) == jnp.arange(batch)),
        "critic/logits_pos": jnp.mean(diag),
        "critic/logits_neg": (jnp.sum(logits) - jnp.sum(diag)) / (batch * (batch - 1)),
    }
    return total, info


def actor_loss(
    log_prob: jax.Array, q: jax.Array, alpha: jax.Array
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """mean(alpha * log pi(a|s,g) - f(s, a, g)) with a the reparameterised action."""
    loss = jnp.mean(alpha * log_prob - q)
    return loss, {"actor/loss": loss, "actor/entropy": -jnp.mean(log_prob), "actor/q": jnp.mean(q)}


def alpha_loss(
    log_alpha: jax.Array, log_prob: jax.Array, target_entropy: float
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """mean(alpha * (-log pi - target_entropy)), log pi held fixed: raises alpha when the
    policy's entropy falls below the target."""
    alpha = jnp.exp(log_alpha)
    loss = jnp.mean(alpha * jax.lax.stop_gradient(-log_prob - target_entropy))
    return loss, {"alpha/loss": loss, "alpha": alpha}
