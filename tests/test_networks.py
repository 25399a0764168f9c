"""Residual towers, encoders and the tanh-Gaussian actor against NumPy forwards (CPU)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from deepcrl.config import NetworkConfig, TowerConfig
from deepcrl.networks import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    Actor,
    Encoder,
    ResidualTower,
    block_apply,
    count_params,
    sample_tanh_gaussian,
    tanh_log_det,
)

LN_EPS = 1e-6

# XLA's CPU backend optimisations only cost compile time on these tiny programs.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def fast_jit(fn, *args):
    """fn compiled for args with cheap backend optimisation; call it with the same args."""
    return jax.jit(fn).lower(*args).compile(compiler_options=FAST_COMPILE)


# ---------------------------------------------------------------------------------------
# NumPy references (float64)
# ---------------------------------------------------------------------------------------


def np_swish(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def np_relu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, 0.0)


def np_layer_norm(x: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + LN_EPS) * scale + bias


def np_block(x, block, *, residual=True, layer_norm=True, activation="swish"):
    """4 x (Dense -> LayerNorm -> act), then + x (post-activation residual)."""
    act = np_swish if activation == "swish" else np_relu
    h = np.asarray(x, np.float64)
    for layer in range(4):
        h = h @ np.asarray(block["kernel"][layer], np.float64) + np.asarray(
            block["bias"][layer], np.float64
        )
        if layer_norm:
            h = np_layer_norm(
                h,
                np.asarray(block["ln_scale"][layer], np.float64),
                np.asarray(block["ln_bias"][layer], np.float64),
            )
        h = act(h)
    return h + np.asarray(x, np.float64) if residual else h


def np_tower(tower_params, x, num_blocks):
    """Dense -> LN -> swish, then num_blocks residual blocks."""
    t = jax.tree.map(lambda a: np.asarray(a, np.float64), tower_params)
    h = np.asarray(x, np.float64) @ t["input"]["kernel"] + t["input"]["bias"]
    h = np_swish(np_layer_norm(h, t["input_norm"]["scale"], t["input_norm"]["bias"]))
    for i in range(num_blocks):
        h = np_block(h, {k: t[k][i] for k in ("kernel", "bias", "ln_scale", "ln_bias")})
    return h


def np_dense(p, h):
    return h @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)


def np_encoder(params, x, num_blocks):
    """Tower, then Dense(repr)."""
    p = params["params"]
    return np_dense(p["out"], np_tower(p["tower"], x, num_blocks))


def random_block(rng, width, layer_norm=True):
    block = {
        "kernel": rng.normal(size=(4, width, width)) / math.sqrt(width),
        "bias": rng.normal(size=(4, width)) * 0.1,
    }
    if layer_norm:
        block["ln_scale"] = 1.0 + 0.3 * rng.normal(size=(4, width))
        block["ln_bias"] = 0.2 * rng.normal(size=(4, width))
    return {k: v.astype(np.float32) for k, v in block.items()}


def random_params(shapes, seed):
    """Random params of the shapes from jax.eval_shape(model.init, ...): no zero biases or
    unit LayerNorm scales that could hide a bug."""
    rng = np.random.default_rng(seed)

    def draw(path, s):
        name = jax.tree_util.keystr(path)
        if "scale" in name:
            return jnp.asarray(1.0 + 0.3 * rng.normal(size=s.shape), s.dtype)
        if "kernel" in name:
            return jnp.asarray(rng.normal(size=s.shape) / math.sqrt(s.shape[-2]), s.dtype)
        return jnp.asarray(0.2 * rng.normal(size=s.shape), s.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


# ---------------------------------------------------------------------------------------
# One block against NumPy, and its ablations
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "residual,layer_norm,activation",
    [
        (True, True, "swish"),
        (False, True, "swish"),
        (True, False, "swish"),
        (True, True, "relu"),
        (False, False, "relu"),
    ],
)
def test_block_apply_matches_numpy(residual, layer_norm, activation):
    rng = np.random.default_rng(0)
    width = 6
    block = random_block(rng, width, layer_norm=layer_norm)
    x = rng.normal(size=(3, width)).astype(np.float32)
    cfg = TowerConfig(
        depth=4, width=width, residual=residual, layer_norm=layer_norm, activation=activation
    )
    got = np.asarray(block_apply(cfg, {k: jnp.asarray(v) for k, v in block.items()}, x))
    want = np_block(x, block, residual=residual, layer_norm=layer_norm, activation=activation)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # The references of neighbouring ablations differ, so each switch is really observed.
    other = np_block(x, block, residual=not residual, layer_norm=layer_norm, activation=activation)
    assert np.abs(other - want).max() > 0.1


def test_block_residual_is_added_after_last_activation():
    # With a zero kernel/bias and LN off, every layer outputs act(0) = 0 for swish and relu,
    # so the block returns exactly its input: the add is post-activation, nothing follows.
    width = 4
    block = {"kernel": jnp.zeros((4, width, width)), "bias": jnp.zeros((4, width))}
    x = jnp.array([[1.0, -2.0, 3.0, -4.0]])
    cfg = TowerConfig(depth=4, width=width, layer_norm=False)
    np.testing.assert_array_equal(block_apply(cfg, block, x), x)
    # Bias 1 on the last layer only: output = swish(1) + x, swish(1) = 1 / (1 + e^-1).
    block["bias"] = block["bias"].at[3].set(1.0)
    np.testing.assert_allclose(
        block_apply(cfg, block, x), x + 1.0 / (1.0 + math.exp(-1.0)), rtol=1e-6
    )


def test_encoder_forward_matches_numpy():
    cfg = TowerConfig(depth=8, width=8)
    model = Encoder(cfg, repr_dim=3)
    x = jax.random.normal(jax.random.PRNGKey(1), (4, 5))
    params = random_params(jax.eval_shape(model.init, jax.random.PRNGKey(0), x), seed=2)
    got = np.asarray(jax.jit(model.apply)(params, x))
    want = np_encoder(params, np.asarray(x), num_blocks=2)
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_no_layer_norm_means_no_layer_norm_params():
    cfg = TowerConfig(depth=8, width=8, layer_norm=False)
    x = jax.ShapeDtypeStruct((1, 3), jnp.float32)
    params = jax.eval_shape(ResidualTower(cfg).init, jax.random.PRNGKey(0), x)["params"]
    assert set(params) == {"input", "kernel", "bias"}
    tower = ResidualTower(TowerConfig(depth=8, width=8))
    with_ln = jax.eval_shape(tower.init, jax.random.PRNGKey(0), x)["params"]
    assert set(with_ln) == {"input", "input_norm", "kernel", "bias", "ln_scale", "ln_bias"}


# ---------------------------------------------------------------------------------------
# Scan over stacked blocks == Python loop
# ---------------------------------------------------------------------------------------


def _reverse_blocks(params):
    """The same params with the residual blocks in reverse order."""
    tower = dict(params["params"]["tower"])
    for k in ("kernel", "bias", "ln_scale", "ln_bias"):
        tower[k] = tower[k][::-1]
    return {"params": {**params["params"], "tower": tower}}


@pytest.mark.parametrize("depth", [8, 12])
def test_scan_tower_equals_loop_tower(depth):
    """Python-loop tower (the reference) vs scan, scan + remat, scan_unroll=2 (+ remat)."""
    width = 8
    loop_model = Encoder(TowerConfig(depth=depth, width=width, scan_blocks=False), repr_dim=4)
    variants = [
        Encoder(TowerConfig(depth=depth, width=width, remat=remat, scan_unroll=unroll), 4)
        for remat, unroll in [(False, 1), (True, 1), (False, 2), (True, 2)]
    ]
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 5))
    params = random_params(jax.eval_shape(loop_model.init, jax.random.PRNGKey(0), x), seed=3)

    def run(p, p_rev):
        return loop_model.apply(p, x), [m.apply(p, x) for m in variants], loop_model.apply(p_rev, x)

    p_rev = _reverse_blocks(params)
    ref, outs, out_rev = fast_jit(run, params, p_rev)(params, p_rev)
    np.testing.assert_allclose(ref, np_encoder(params, x, depth // 4), rtol=1e-4, atol=1e-5)
    for out in outs:
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # The blocks are really applied in order: reversing them changes the output.
    assert np.abs(out_rev - ref).max() > 1e-3


def test_scan_remat_unroll_gradients_equal_loop_gradients():
    """Backward pass of scan + remat + scan_unroll=2 (3 blocks: one partial unroll) == loop."""
    loop_model = Encoder(TowerConfig(depth=12, width=8, scan_blocks=False), repr_dim=4)
    scan_model = Encoder(TowerConfig(depth=12, width=8, remat=True, scan_unroll=2), repr_dim=4)
    x = jax.random.normal(jax.random.PRNGKey(1), (3, 5))
    params = random_params(jax.eval_shape(loop_model.init, jax.random.PRNGKey(0), x), seed=4)

    def grads(p):
        loss = lambda m, q: jnp.sum(jnp.sin(m.apply(q, x)))
        return jax.grad(lambda q: loss(loop_model, q))(p), jax.grad(lambda q: loss(scan_model, q))(
            p
        )

    g_loop, g_scan = fast_jit(grads, params)(params)
    leaves = jax.tree_util.tree_leaves_with_path(g_loop)
    for (path, a), b in zip(leaves, jax.tree.leaves(g_scan), strict=True):
        # float32 round-off of a sum scales with the leaf's largest entries (up to ~5 here):
        # a small entry next to them may differ by ~1e-6 * that scale between the programs.
        scale = max(1.0, float(np.abs(a).max()))
        np.testing.assert_allclose(
            b, a, rtol=1e-4, atol=1e-6 * scale, err_msg=jax.tree_util.keystr(path)
        )
    # Every block gets a real gradient (a scan that dropped a block would leave zeros).
    assert np.all(np.abs(np.asarray(g_scan["params"]["tower"]["kernel"])).sum(axis=(1, 2, 3)) > 0)


# ---------------------------------------------------------------------------------------
# Program size flat in depth
# ---------------------------------------------------------------------------------------


def _lowered_fwd_bwd_len(tower: TowerConfig) -> int:
    """Characters of the lowered StableHLO of an Encoder forward + backward."""
    model = Encoder(tower, repr_dim=4)
    x = jax.ShapeDtypeStruct((2, 5), jnp.float32)
    params = jax.eval_shape(model.init, jax.random.PRNGKey(0), x)

    def fwd_bwd(p, obs):
        return jax.value_and_grad(lambda q: jnp.sum(jnp.square(model.apply(q, obs))))(p)

    return len(jax.jit(fwd_bwd).lower(params, x).as_text())


@pytest.mark.parametrize("remat", [False, True])
def test_scanned_program_does_not_grow_with_depth(remat):
    shallow = _lowered_fwd_bwd_len(TowerConfig(depth=8, width=8, remat=remat))
    deep = _lowered_fwd_bwd_len(TowerConfig(depth=256, width=8, remat=remat))
    assert deep / shallow < 1.05, (shallow, deep)


def test_unrolled_program_grows_with_depth():
    # The same measurement catches a tower that is not scanned.
    shallow = _lowered_fwd_bwd_len(TowerConfig(depth=8, width=8, scan_blocks=False))
    deep = _lowered_fwd_bwd_len(TowerConfig(depth=32, width=8, scan_blocks=False))
    assert deep / shallow > 2.0, (shallow, deep)


# ---------------------------------------------------------------------------------------
# Parameter counts and initialisation
# ---------------------------------------------------------------------------------------


def tower_params(in_dim: int, width: int, depth: int, layer_norm: bool = True) -> int:
    ln = 2 * width if layer_norm else 0
    first = in_dim * width + width + ln
    per_layer = width * width + width + ln
    return first + depth * per_layer


@pytest.mark.parametrize("layer_norm", [True, False])
@pytest.mark.parametrize("depth", [4, 12])
def test_param_counts_match_formula(depth, layer_norm):
    width, in_dim, repr_dim, action_dim = 16, 7, 5, 3
    tower = TowerConfig(depth=depth, width=width, layer_norm=layer_norm)
    x = jax.ShapeDtypeStruct((1, in_dim), jnp.float32)
    enc = jax.eval_shape(Encoder(tower, repr_dim=repr_dim).init, jax.random.PRNGKey(0), x)
    act = jax.eval_shape(Actor(tower, action_dim=action_dim).init, jax.random.PRNGKey(0), x)
    trunk = tower_params(in_dim, width, depth, layer_norm)
    assert count_params(enc) == trunk + width * repr_dim + repr_dim
    assert count_params(act) == trunk + 2 * (width * action_dim + action_dim)
    # e.g. depth 4, LN on: 7*16+16+32 + 4*(256+16+32) + 16*5+5 = 160 + 1216 + 85 = 1461
    if depth == 4 and layer_norm:
        assert count_params(enc) == 1461


def test_paper_scale_param_count_about_200m():
    # Depth 1024, width 256 on ant (state 29, goal 2, action 8): actor + phi + psi ~ 200M.
    net = NetworkConfig(depth=1024, width=256)
    actor = Actor(net.actor_tower, action_dim=8)
    phi = Encoder(net.critic_tower, repr_dim=net.repr_dim)
    psi = Encoder(net.critic_tower, repr_dim=net.repr_dim)
    key = jax.random.PRNGKey(0)
    shapes = [
        jax.eval_shape(actor.init, key, jax.ShapeDtypeStruct((1, 31), jnp.float32)),
        jax.eval_shape(phi.init, key, jax.ShapeDtypeStruct((1, 37), jnp.float32)),
        jax.eval_shape(psi.init, key, jax.ShapeDtypeStruct((1, 2), jnp.float32)),
    ]
    total = sum(count_params(s) for s in shapes)
    want = (
        tower_params(31, 256, 1024) + 2 * (256 * 8 + 8)
        + tower_params(37, 256, 1024) + 256 * 64 + 64
        + tower_params(2, 256, 1024) + 256 * 64 + 64
    )  # fmt: skip
    assert total == want
    assert 190e6 < total < 215e6


def _check_uniform_fan_in(kernel: np.ndarray, fan_in: int, var_rtol: float) -> None:
    bound = math.sqrt(1.0 / fan_in)  # sqrt(3 * scale / fan_in) with scale 1/3
    k = np.asarray(kernel, np.float64)
    assert np.abs(k).max() <= bound * (1 + 1e-6)
    assert np.abs(k).max() >= 0.95 * bound  # uniform fills its range
    np.testing.assert_allclose(k.var(), 1.0 / (3.0 * fan_in), rtol=var_rtol)
    assert abs(k.mean()) < 0.05 * bound


def test_init_uniform_variance_scaling_fan_in_and_zero_biases():
    in_dim, width, repr_dim, action_dim = 300, 128, 32, 32
    tower = TowerConfig(depth=4, width=width)
    x = jnp.zeros((1, in_dim))
    encoder, actor = Encoder(tower, repr_dim=repr_dim), Actor(tower, action_dim=action_dim)
    init = lambda k0, k1: (encoder.init(k0, x)["params"], actor.init(k1, x)["params"])
    keys = jax.random.PRNGKey(0), jax.random.PRNGKey(1)
    enc, act = fast_jit(init, *keys)(*keys)
    t = enc["tower"]
    _check_uniform_fan_in(t["input"]["kernel"], in_dim, var_rtol=0.05)  # 38400 draws
    _check_uniform_fan_in(t["kernel"], width, var_rtol=0.05)  # 4 * 128 * 128 draws
    _check_uniform_fan_in(enc["out"]["kernel"], width, var_rtol=0.08)  # 4096 draws
    _check_uniform_fan_in(act["mean"]["kernel"], width, var_rtol=0.08)
    _check_uniform_fan_in(act["log_std"]["kernel"], width, var_rtol=0.08)
    # Each of the 4 layers in a block is initialised on its own fan-in, not one shared draw.
    per_layer_var = np.asarray(t["kernel"][0], np.float64).reshape(4, -1).var(axis=1)
    np.testing.assert_allclose(per_layer_var, 1.0 / (3.0 * width), rtol=0.05)
    assert not np.allclose(t["kernel"][0, 0], t["kernel"][0, 1])
    for params in (enc, act):
        for path, leaf in jax.tree_util.tree_leaves_with_path(params):
            name = jax.tree_util.keystr(path)
            if name.endswith("['bias']") or "ln_bias" in name:
                np.testing.assert_array_equal(leaf, 0.0, err_msg=name)
            if "scale" in name:
                np.testing.assert_array_equal(leaf, 1.0, err_msg=name)


# ---------------------------------------------------------------------------------------
# Actor head and the tanh-Gaussian
# ---------------------------------------------------------------------------------------


def test_actor_heads_match_numpy_and_log_std_stays_in_bounds():
    tower = TowerConfig(depth=4, width=8)
    actor = Actor(tower, action_dim=3)
    apply = jax.jit(actor.apply)
    obs = np.random.default_rng(0).normal(size=(64, 6)).astype(np.float32)
    params = random_params(jax.eval_shape(actor.init, jax.random.PRNGKey(0), obs), seed=1)
    p = params["params"]

    mean, log_std = apply(params, obs)
    h = np_tower(p["tower"], obs, num_blocks=1)
    raw = np_dense(p["log_std"], h)
    # log_std = -5 + (2 - (-5)) / 2 * (tanh(raw) + 1): a smooth squash into [-5, 2].
    np.testing.assert_allclose(log_std, -5.0 + 3.5 * (np.tanh(raw) + 1.0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(mean, np_dense(p["mean"], h), rtol=1e-5, atol=1e-5)
    assert (LOG_STD_MIN, LOG_STD_MAX) == (-5.0, 2.0)

    # Huge inputs and a blown-up log_std head: pre-activations of +-1e6 and beyond.
    huge = {**p, "log_std": {"kernel": 1e6 * p["log_std"]["kernel"], "bias": p["log_std"]["bias"]}}
    mean, log_std = apply({"params": huge}, 1e6 * obs)
    log_std = np.asarray(log_std)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(log_std))
    assert log_std.min() >= -5.0 and log_std.max() <= 2.0
    # Both bounds are reached, so the squashing really is what keeps it inside.
    assert log_std.min() < -4.99 and log_std.max() > 1.99


def test_tanh_log_det_matches_numpy():
    u = np.array([-3.0, -1.0, -0.1, 0.0, 0.2, 1.5, 4.0], np.float32)
    want = np.log(1.0 - np.tanh(u.astype(np.float64)) ** 2)
    np.testing.assert_allclose(tanh_log_det(jnp.asarray(u)), want, rtol=1e-5, atol=1e-6)
    # Large |u|: log(1 - tanh^2 u) = log 4 - 2|u| - 2 log(1 + e^-2|u|) ~ log 4 - 2|u|.
    big = np.array([-50.0, 30.0, 100.0], np.float32)
    got = np.asarray(tanh_log_det(jnp.asarray(big)))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, math.log(4.0) - 2.0 * np.abs(big), rtol=1e-6)


def test_sample_tanh_gaussian_log_prob_change_of_variables():
    key = jax.random.PRNGKey(7)
    mean = jnp.array([[0.3, -0.5, 1.0], [-1.2, 0.0, 0.4]])
    log_std = jnp.array([[-0.5, 0.0, -1.0], [0.2, -2.0, -0.3]])
    action, log_prob = sample_tanh_gaussian(key, mean, log_std)
    a = np.asarray(action, np.float64)
    assert a.shape == (2, 3) and log_prob.shape == (2,)
    assert np.all(np.abs(a) < 1.0)
    u = np.arctanh(a)
    m, s = np.asarray(mean, np.float64), np.exp(np.asarray(log_std, np.float64))
    normal = -0.5 * ((u - m) / s) ** 2 - np.log(s) - 0.5 * math.log(2 * math.pi)
    want = np.sum(normal - np.log(1.0 - np.tanh(u) ** 2), axis=-1)
    np.testing.assert_allclose(log_prob, want, rtol=1e-4, atol=1e-4)
    # Same key, same draw; another key, another draw.
    np.testing.assert_array_equal(sample_tanh_gaussian(key, mean, log_std)[0], action)
    other, _ = sample_tanh_gaussian(jax.random.PRNGKey(8), mean, log_std)
    assert not np.allclose(other, action)


def test_sample_tanh_gaussian_log_prob_finite_for_large_u():
    key = jax.random.PRNGKey(3)
    mean = jnp.array([[40.0, -40.0, 15.0, -80.0]])
    log_std = jnp.full((1, 4), -5.0)

    def run(m):
        action, log_prob = sample_tanh_gaussian(key, m, log_std)
        grad = jax.grad(lambda mm: jnp.sum(sample_tanh_gaussian(key, mm, log_std)[1]))(m)
        # The draw itself, recomputed from the same key: u = mean + std * eps.
        return action, log_prob, grad, jax.random.normal(key, m.shape, m.dtype)

    action, log_prob, grad, eps = fast_jit(run, mean)(mean)
    assert np.all(np.isfinite(log_prob))
    np.testing.assert_allclose(np.abs(action), 1.0, atol=1e-6)
    eps = np.asarray(eps, np.float64)
    u = np.asarray(mean, np.float64) + math.exp(-5.0) * eps
    normal = -0.5 * eps**2 + 5.0 - 0.5 * math.log(2 * math.pi)
    log_det = math.log(4.0) - 2.0 * np.abs(u)  # exact to ~e^-30 at these |u|
    np.testing.assert_allclose(log_prob, np.sum(normal - log_det, axis=-1), rtol=1e-5)
    # Gradients through the reparameterised sample stay finite too.
    assert np.all(np.isfinite(grad))
