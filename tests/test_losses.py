"""Energies, contrastive critic losses, actor and temperature losses against NumPy by hand.

Every reference value is written out here with explicit loops or formulas in float64; none
calls deepcrl.losses.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepcrl.losses import (
    actor_loss,
    alpha_loss,
    contrastive_loss,
    energy_matrix,
    energy_pairs,
)

ENERGIES = ["l2", "l2_squared", "dot", "cosine"]
LOSSES = ["fwd_infonce", "bwd_infonce", "sym_infonce", "binary_nce"]


# ---------------------------------------------------------------------------------------
# NumPy references (float64, loops)
# ---------------------------------------------------------------------------------------


def np_energy(phi: np.ndarray, psi: np.ndarray, energy: str) -> np.ndarray:
    """logits[i, j] = f(phi_i, psi_j), one entry at a time."""
    phi = np.asarray(phi, np.float64)
    psi = np.asarray(psi, np.float64)
    b = phi.shape[0]
    out = np.zeros((b, psi.shape[0]))
    for i in range(b):
        for j in range(psi.shape[0]):
            diff = phi[i] - psi[j]
            sq = sum(d * d for d in diff)
            if energy == "l2":
                out[i, j] = -math.sqrt(sq)
            elif energy == "l2_squared":
                out[i, j] = -sq
            elif energy == "dot":
                out[i, j] = sum(a * c for a, c in zip(phi[i], psi[j], strict=True))
            elif energy == "cosine":
                na = math.sqrt(sum(a * a for a in phi[i]))
                nc = math.sqrt(sum(c * c for c in psi[j]))
                out[i, j] = sum(a * c for a, c in zip(phi[i], psi[j], strict=True)) / (na * nc)
            else:
                raise AssertionError(energy)
    return out


def np_lse(values) -> float:
    """log(sum(exp(v))) with the max subtracted."""
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def np_row_lse(logits: np.ndarray) -> np.ndarray:
    return np.array([np_lse(list(logits[i, :])) for i in range(logits.shape[0])])


def np_col_lse(logits: np.ndarray) -> np.ndarray:
    return np.array([np_lse(list(logits[:, j])) for j in range(logits.shape[1])])


def np_contrastive(logits: np.ndarray, loss: str) -> float:
    """The critic objective without the penalty."""
    logits = np.asarray(logits, np.float64)
    b = logits.shape[0]
    diag = np.array([logits[i, i] for i in range(b)])
    fwd = -np.mean(diag - np_row_lse(logits))
    bwd = -np.mean(diag - np_col_lse(logits))
    if loss == "fwd_infonce":
        return fwd
    if loss == "bwd_infonce":
        return bwd
    if loss == "sym_infonce":
        return fwd + bwd
    if loss == "binary_nce":
        total = 0.0
        for i in range(b):
            for j in range(b):
                y = 1.0 if i == j else 0.0
                p = 1.0 / (1.0 + math.exp(-logits[i, j]))
                total += -(y * math.log(p) + (1.0 - y) * math.log(1.0 - p))
        return total / (b * b)
    raise AssertionError(loss)


# ---------------------------------------------------------------------------------------
# Energies
# ---------------------------------------------------------------------------------------


def test_energy_matrix_hand_example_2x2():
    # phi = [(0,0), (3,0)], psi = [(3,4), (0,4)]:
    #   |(0,0)-(3,4)| = 5, |(0,0)-(0,4)| = 4, |(3,0)-(3,4)| = 4, |(3,0)-(0,4)| = 5
    #   l2         = -[[5, 4], [4, 5]]           (NOT squared)
    #   l2_squared = -[[25, 16], [16, 25]]
    #   dot        = [[0*3+0*4, 0], [3*3+0*4, 3*0+0*4]] = [[0, 0], [9, 0]]
    phi = jnp.array([[0.0, 0.0], [3.0, 0.0]])
    psi = jnp.array([[3.0, 4.0], [0.0, 4.0]])
    np.testing.assert_allclose(energy_matrix(phi, psi, "l2"), [[-5, -4], [-4, -5]], atol=1e-5)
    np.testing.assert_allclose(
        energy_matrix(phi, psi, "l2_squared"), [[-25, -16], [-16, -25]], atol=1e-5
    )
    np.testing.assert_allclose(energy_matrix(phi, psi, "dot"), [[0, 0], [9, 0]], atol=1e-5)
    # cosine with phi = [(1,0), (3,4)], psi = [(0,2), (6,8)]: unit vectors (1,0), (.6,.8),
    # (0,1), (.6,.8): [[0, .6], [.8, 1]].
    phi_c = jnp.array([[1.0, 0.0], [3.0, 4.0]])
    psi_c = jnp.array([[0.0, 2.0], [6.0, 8.0]])
    np.testing.assert_allclose(
        energy_matrix(phi_c, psi_c, "cosine"), [[0, 0.6], [0.8, 1]], atol=1e-6
    )


@pytest.mark.parametrize("energy", ENERGIES)
def test_energy_matrix_matches_numpy_loops(energy):
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(5, 3)).astype(np.float32)
    psi = rng.normal(size=(5, 3)).astype(np.float32)
    got = np.asarray(energy_matrix(jnp.asarray(phi), jnp.asarray(psi), energy))
    want = np_energy(phi, psi, energy)
    assert got.shape == (5, 5)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # Not symmetric in general: logits[i, j] uses phi_i and psi_j, not the other way round.
    assert not np.allclose(got, got.T, atol=1e-3)


@pytest.mark.parametrize("energy", ENERGIES)
def test_energy_pairs_is_the_diagonal(energy):
    rng = np.random.default_rng(1)
    phi = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    psi = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    pairs = np.asarray(energy_pairs(phi, psi, energy))
    mat = np.asarray(energy_matrix(phi, psi, energy))
    assert pairs.shape == (6,)
    np.testing.assert_allclose(pairs, np.diag(mat), rtol=1e-5, atol=1e-5)
    ref = np_energy(np.asarray(phi), np.asarray(psi), energy)
    np.testing.assert_allclose(pairs, [ref[i, i] for i in range(6)], rtol=1e-5, atol=1e-5)


def test_l2_energy_gradient_finite_when_phi_equals_psi():
    phi = jnp.asarray(np.random.default_rng(2).normal(size=(4, 3)), jnp.float32)
    same = jnp.ones((3, 2))  # all embeddings identical: every distance is 0

    @jax.jit
    def grads(phi, same):
        total = lambda fn, x, y: jnp.sum(fn(x, y, "l2"))
        critic = lambda x, y: contrastive_loss(energy_matrix(x, y, "l2"), "fwd_infonce", 0.1)[0]
        return (
            jax.grad(total, argnums=1)(energy_pairs, phi, phi),
            jax.grad(total, argnums=1)(energy_matrix, phi, phi),
            [
                jax.grad(total, argnums=(1, 2))(fn, same, same)
                for fn in (energy_pairs, energy_matrix)
            ],
            jax.grad(critic, argnums=(0, 1))(same, same),
        )

    g_pairs, g_mat, g_same, g_loss = grads(phi, same)
    # Pairs: d/dphi -||phi - psi|| is 0 at phi == psi (and must not be NaN).
    np.testing.assert_allclose(g_pairs, 0.0, atol=1e-6)
    # Matrix: d/dphi_i sum_j -||phi_i - psi_j|| = -sum_{j != i} (phi_i - psi_j) / ||phi_i - psi_j||
    p = np.asarray(phi, np.float64)
    want = np.zeros_like(p)
    for i in range(4):
        for j in range(4):
            if i != j:
                d = p[i] - p[j]
                want[i] -= d / math.sqrt(np.sum(d * d))
    np.testing.assert_allclose(g_mat, want, rtol=1e-5, atol=1e-5)
    # Coincident embeddings everywhere: gradients are finite (and zero by symmetry).
    for g in jax.tree.leaves((g_same, g_loss)):
        assert np.all(np.isfinite(g))
        np.testing.assert_allclose(g, 0.0, atol=1e-5)


@pytest.mark.parametrize("energy", ["l2", "l2_squared"])
def test_l2_energy_exact_for_close_pairs_with_large_norms(energy):
    """Positives end up close: their distance must not drown in |phi|^2 rounding.

    ||phi_i - psi_i|| = 1e-3 exactly-ish while |phi_i| ~ 10; the expansion
    |phi|^2 + |psi|^2 - 2 phi.psi loses it entirely in float32 (and far worse in TF32).
    """
    phi = np.zeros((3, 8), np.float32)
    phi[:, 0] = [10.0, -7.0, 3.0]
    phi[:, 1] = [1.0, 2.0, -5.0]
    psi = phi.copy()
    psi[:, 2] += np.float32(1e-3)
    got = np.asarray(energy_matrix(jnp.asarray(phi), jnp.asarray(psi), energy))
    want = np_energy(phi, psi, energy)
    np.testing.assert_allclose(np.diag(got), np.diag(want), rtol=1e-2)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_unknown_energy_rejected():
    x = jnp.ones((2, 2))
    with pytest.raises(ValueError, match="energy"):
        energy_matrix(x, x, "manhattan")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="energy"):
        energy_pairs(x, x, "manhattan")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Contrastive losses
# ---------------------------------------------------------------------------------------


def test_infonce_hand_example_2x2():
    # logits = [[log 3, 0], [log 5, 0]]
    #   rows: lse_0 = log(3 + 1) = log 4, lse_1 = log(5 + 1) = log 6
    #     fwd = -mean(log 3 - log 4, 0 - log 6) = -(log(3/24))/2 = log(8)/2
    #   cols: lse_0 = log(3 + 5) = log 8, lse_1 = log(1 + 1) = log 2
    #     bwd = -mean(log 3 - log 8, 0 - log 2) = log(16/3)/2
    #   sym = fwd + bwd = log(128/3)/2
    #   penalty 0.1 * mean((log 4)^2, (log 6)^2), always over rows (axis 1)
    logits = jnp.array([[math.log(3.0), 0.0], [math.log(5.0), 0.0]])
    penalty = 0.1 * ((math.log(4) ** 2 + math.log(6) ** 2) / 2)
    cases = {
        "fwd_infonce": math.log(8) / 2,
        "bwd_infonce": math.log(16 / 3) / 2,
        "sym_infonce": math.log(128 / 3) / 2,
    }
    for name, base in cases.items():
        loss0, _ = contrastive_loss(logits, name, 0.0)
        loss1, info = contrastive_loss(logits, name, 0.1)
        np.testing.assert_allclose(loss0, base, rtol=1e-6)
        np.testing.assert_allclose(loss1, base + penalty, rtol=1e-6)
        np.testing.assert_allclose(info["critic/contrastive_loss"], base, rtol=1e-6)
        np.testing.assert_allclose(info["critic/loss"], base + penalty, rtol=1e-6)
        np.testing.assert_allclose(
            info["critic/logsumexp"], (math.log(4) + math.log(6)) / 2, rtol=1e-6
        )


def test_binary_nce_hand_example_2x2():
    # logits = [[0, 0], [0, 0]]: every entry has sigmoid 1/2, so every cross-entropy is log 2.
    loss, _ = contrastive_loss(jnp.zeros((2, 2)), "binary_nce", 0.0)
    np.testing.assert_allclose(loss, math.log(2), rtol=1e-6)
    # logits = [[2, -1], [1, 3]]: labels eye(2):
    #   positives -log s(2), -log s(3); negatives -log(1 - s(-1)) = -log s(1), -log(1 - s(1))
    #   = -log s(-1). Mean of the four.
    s = lambda x: 1 / (1 + math.exp(-x))
    want = -(math.log(s(2)) + math.log(s(3)) + math.log(s(1)) + math.log(s(-1))) / 4
    loss, _ = contrastive_loss(jnp.array([[2.0, -1.0], [1.0, 3.0]]), "binary_nce", 0.0)
    np.testing.assert_allclose(loss, want, rtol=1e-6)


@pytest.mark.parametrize("penalty", [0.0, 0.1])
@pytest.mark.parametrize("loss_name", LOSSES)
def test_contrastive_loss_matches_numpy(loss_name, penalty):
    rng = np.random.default_rng(3)
    # Non-symmetric, so softmax over rows and over columns differ.
    logits = (rng.normal(size=(6, 6)) * 2.0 + np.triu(np.ones((6, 6)))).astype(np.float32)
    loss, info = contrastive_loss(jnp.asarray(logits), loss_name, penalty)
    base = np_contrastive(logits, loss_name)
    lse_rows = np_row_lse(logits.astype(np.float64))
    want = base + penalty * np.mean(lse_rows**2)
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    np.testing.assert_allclose(info["critic/loss"], want, rtol=1e-5)
    np.testing.assert_allclose(info["critic/contrastive_loss"], base, rtol=1e-5)
    np.testing.assert_allclose(info["critic/logsumexp"], np.mean(lse_rows), rtol=1e-5)


def test_losses_distinguish_directions():
    # The reference fwd and bwd values differ on this matrix, so a swapped axis is caught.
    rng = np.random.default_rng(3)
    logits = (rng.normal(size=(6, 6)) * 2.0 + np.triu(np.ones((6, 6)))).astype(np.float32)
    fwd = np_contrastive(logits, "fwd_infonce")
    bwd = np_contrastive(logits, "bwd_infonce")
    assert abs(fwd - bwd) > 0.05
    got_fwd = float(contrastive_loss(jnp.asarray(logits), "fwd_infonce", 0.0)[0])
    got_bwd = float(contrastive_loss(jnp.asarray(logits), "bwd_infonce", 0.0)[0])
    assert abs(got_fwd - fwd) < 1e-4 and abs(got_bwd - bwd) < 1e-4


def test_contrastive_info_diagnostics():
    # Row argmax: row 0 -> 0 (correct), row 1 -> 0 (wrong), row 2 -> 2 (correct),
    # row 3 -> 1 (wrong), row 4 -> 4 (correct): accuracy 3/5. (Column argmax would give 4/5:
    # cols 0, 2, 3, 4 peak on the diagonal, so an axis mix-up is caught.)
    logits = np.array(
        [
            [5.0, 1.0, 0.0, 2.0, 0.5],
            [4.0, 1.0, 0.0, 2.0, 0.5],
            [0.0, 1.0, 3.0, 2.0, 0.5],
            [0.0, 6.0, 0.0, 2.5, 0.5],
            [0.0, 1.0, 0.0, 2.0, 7.0],
        ],
        np.float32,
    )
    _, info = contrastive_loss(jnp.asarray(logits), "fwd_infonce", 0.1)
    np.testing.assert_allclose(info["critic/accuracy"], 3 / 5, rtol=1e-6)
    pos = sum(logits[i, i] for i in range(5)) / 5
    neg = sum(logits[i, j] for i in range(5) for j in range(5) if i != j) / 20
    np.testing.assert_allclose(info["critic/logits_pos"], pos, rtol=1e-6)
    np.testing.assert_allclose(info["critic/logits_neg"], neg, rtol=1e-6)
    assert set(info) >= {
        "critic/loss",
        "critic/contrastive_loss",
        "critic/logsumexp",
        "critic/accuracy",
        "critic/logits_pos",
        "critic/logits_neg",
    }


def test_contrastive_loss_end_to_end_from_embeddings():
    # Default objective: l2 energy -> fwd InfoNCE + 0.1 * penalty, all by hand.
    rng = np.random.default_rng(4)
    phi = rng.normal(size=(4, 3)).astype(np.float32)
    psi = rng.normal(size=(4, 3)).astype(np.float32)
    logits = np_energy(phi, psi, "l2")
    want = np_contrastive(logits, "fwd_infonce") + 0.1 * np.mean(np_row_lse(logits) ** 2)
    got, _ = contrastive_loss(
        energy_matrix(jnp.asarray(phi), jnp.asarray(psi), "l2"), "fwd_infonce", 0.1
    )
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_unknown_contrastive_loss_rejected():
    with pytest.raises(ValueError, match="contrastive"):
        contrastive_loss(jnp.zeros((2, 2)), "triplet", 0.1)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# Actor and temperature
# ---------------------------------------------------------------------------------------


def test_actor_loss_value():
    log_prob = np.array([-1.0, 0.5, -2.0, 3.0], np.float32)
    q = np.array([-4.0, -1.5, 0.25, -0.5], np.float32)
    alpha = 0.3
    # mean(0.3 * [-1, .5, -2, 3] - [-4, -1.5, .25, -.5])
    #   = mean([-0.3 + 4, 0.15 + 1.5, -0.6 - 0.25, 0.9 + 0.5]) = mean([3.7, 1.65, -0.85, 1.4])
    want = (3.7 + 1.65 - 0.85 + 1.4) / 4
    loss, info = actor_loss(jnp.asarray(log_prob), jnp.asarray(q), jnp.float32(alpha))
    np.testing.assert_allclose(loss, want, rtol=1e-6)
    np.testing.assert_allclose(info["actor/loss"], want, rtol=1e-6)
    np.testing.assert_allclose(info["actor/entropy"], -np.mean(log_prob), rtol=1e-6)
    np.testing.assert_allclose(info["actor/q"], np.mean(q), rtol=1e-6)
    # Gradients: d/dlog_prob = alpha / B, d/dq = -1 / B.
    g_lp, g_q = jax.grad(lambda lp, qq: actor_loss(lp, qq, jnp.float32(alpha))[0], (0, 1))(
        jnp.asarray(log_prob), jnp.asarray(q)
    )
    np.testing.assert_allclose(g_lp, np.full(4, alpha / 4), rtol=1e-6)
    np.testing.assert_allclose(g_q, np.full(4, -1 / 4), rtol=1e-6)


def test_alpha_loss_value_and_gradient():
    log_alpha = jnp.float32(math.log(0.5))
    log_prob = jnp.array([1.0, 2.0, 3.0])  # entropy = -2
    target = -0.5 * 4  # action_dim 4 -> target entropy -2
    # alpha * mean(-log_prob - target) = 0.5 * mean([-1 + 2, -2 + 2, -3 + 2]) = 0.5 * 0 = 0
    loss, info = alpha_loss(log_alpha, log_prob, target)
    np.testing.assert_allclose(loss, 0.0, atol=1e-7)
    np.testing.assert_allclose(info["alpha"], 0.5, rtol=1e-6)
    # target -4: 0.5 * mean([1, 0, -1] + 2) = 0.5 * 2 = 1
    loss, info = alpha_loss(log_alpha, log_prob, -4.0)
    np.testing.assert_allclose(loss, 1.0, rtol=1e-6)
    np.testing.assert_allclose(info["alpha/loss"], 1.0, rtol=1e-6)


@pytest.mark.parametrize("entropy_gap", [-1.5, 1.5])
def test_alpha_gradient_sign(entropy_gap):
    """Entropy below target -> gradient descent raises alpha; above -> lowers it."""
    target = -3.0
    entropy = target + entropy_gap
    log_prob = jnp.full((8,), -entropy)
    log_alpha = jnp.float32(0.2)
    grad = float(jax.grad(lambda la: alpha_loss(la, log_prob, target)[0])(log_alpha))
    # d/dlog_alpha alpha * (entropy - target) = alpha * (entropy - target)
    np.testing.assert_allclose(grad, math.exp(0.2) * entropy_gap, rtol=1e-5)
    new_log_alpha = 0.2 - 0.1 * grad
    if entropy_gap < 0:
        assert new_log_alpha > 0.2
    else:
        assert new_log_alpha < 0.2
    # The policy's log-probabilities get no gradient from the temperature loss.
    g_lp = jax.grad(lambda lp: alpha_loss(log_alpha, lp, target)[0])(log_prob)
    np.testing.assert_allclose(g_lp, 0.0)
