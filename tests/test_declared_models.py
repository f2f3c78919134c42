"""Declared models: the matrix-calculus rules against entrywise sympy, the generated kernels against
finite differences, the generated flow against −∇(L + λ tr G), the declared two-layer network against
the specialized engine on the same draws, configs and declaration errors."""

import numpy as np
import pytest
import sympy as sp

from lnsgd.experiments.config import SimulationConfig
from lnsgd.experiments.declared.config import ModelConfig
from lnsgd.experiments.declared.predict import flow_rhs_of, flow_weights
from lnsgd.experiments.declared.runner import model_start, run_model
from lnsgd.experiments.runner import run_engine
from lnsgd.experiments.validation import ConfigError
from lnsgd.solvers import declared_engine as de
from lnsgd.theory import declared
from lnsgd.theory import symbols as sy
from lnsgd.theory.declarations import MODELS, h
from lnsgd.theory.declared import Block, DeclarationError, ModelDeclaration, Parametrization

EXPLICIT = {sy.d: 3, sy.m: 2, h: 2}
NUMERIC = {"two-layer": (5, 7), "diagonal": (6,), "deep-linear": (5, 4, 3)}
FD_STEP = 1e-6
FD_TOL = 1e-7  # central differences of smooth cubic/quartic forms at O(1) values: error O(h²) + rounding/h


def _entries(sym):
    return list(declared.explicit(sym, EXPLICIT))


@pytest.mark.parametrize("name", MODELS)
def test_matrix_calculus_equals_entrywise_differentiation(name):
    """∇f, β = ∇_x f, q = ‖∇f‖² and ∇q from the reverse-mode rules equal sympy's entrywise derivatives
    of the explicit f at (d, m, h) = (3, 2, 2): exact (symbolic zero)."""
    model = MODELS[name]
    f = declared.explicit(model.output, EXPLICIT)[0, 0]
    grads = declared.sample_gradient(model)
    q_explicit = 0
    for b, g in zip(model.blocks, grads, strict=True):
        g_exp = list(declared.explicit(g, EXPLICIT))
        for entry, value in zip(_entries(b.symbol), g_exp, strict=True):
            assert sp.expand(sp.diff(f, entry) - value) == 0
            q_explicit += value**2
    beta = list(declared.explicit(declared.predictor(model), EXPLICIT))
    for entry, value in zip(_entries(model.x), beta, strict=True):
        assert sp.expand(sp.diff(f, entry) - value) == 0
    q = declared.explicit(declared.gradient_norm_sq(model), EXPLICIT)[0, 0]
    assert sp.expand(q - q_explicit) == 0
    for b, gq in zip(model.blocks, declared.gradient_norm_sq_gradient(model), strict=True):
        for entry, value in zip(_entries(b.symbol), declared.explicit(gq, EXPLICIT), strict=True):
            assert sp.expand(sp.diff(q, entry) - value) == 0


def _random_point(name, rng):
    sizes = np.array(NUMERIC[name], dtype=np.int64)
    start = model_start(ModelConfig(model=name, **dict(zip(MODELS[name].size_names, NUMERIC[name], strict=True))))
    theta = rng.normal(size=start.theta0.size)
    return theta, sizes, rng.normal(size=sizes[0])


def _fd(fun, theta):
    out = np.empty_like(theta)
    for j in range(theta.size):
        e = np.zeros_like(theta)
        e[j] = FD_STEP
        out[j] = (fun(theta + e) - fun(theta - e)) / (2 * FD_STEP)
    return out


@pytest.mark.parametrize("name", MODELS)
def test_generated_kernels_match_finite_differences(name):
    rng = np.random.default_rng(1)
    k = de.model_kernels(name)
    theta, sizes, x = _random_point(name, rng)
    s = 0.7
    grad = np.zeros_like(theta)
    k.add_gradient(theta, sizes, s, x, 1.0, grad)
    np.testing.assert_allclose(grad, _fd(lambda t: k.output(t, sizes, s, x), theta), atol=FD_TOL, rtol=0)
    assert k.norm_sq(theta, sizes, s, x) == pytest.approx(grad @ grad, rel=1e-13)
    gq = np.zeros_like(theta)
    k.add_norm_gradient(theta, sizes, s, x, 1.0, gq)
    np.testing.assert_allclose(gq, _fd(lambda t: k.norm_sq(t, sizes, s, x), theta), atol=50 * FD_TOL, rtol=1e-8)
    beta = np.empty(x.size)
    k.predictor(theta, sizes, s, beta)
    assert beta @ x == pytest.approx(k.output(theta, sizes, s, x), rel=1e-13)
    acc = np.zeros_like(theta)
    r = k.add_residual_gradient(theta, sizes, s, x, 0.3, 2.0, acc)
    assert r == pytest.approx(k.output(theta, sizes, s, x) - 0.3, rel=1e-13)
    np.testing.assert_allclose(acc, 2.0 * r * grad, rtol=1e-13, atol=1e-14)
    stepped = theta.copy()  # the in-place step: every factor taken at the old θ
    assert k.step(stepped, sizes, s, x, 0.3, 2.0) == pytest.approx(r, rel=1e-13)
    np.testing.assert_allclose(stepped, theta + acc, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("n", [4, 9])  # n ≤ d (rows of X) and n > d (eigen-rows of Σ̂)
@pytest.mark.parametrize("algorithm", ["sgd", "usam"])
def test_flow_is_minus_gradient_of_loss_plus_lambda_trace(name, n, algorithm):
    """θ̇ = −∇(L + c tr G), c = λ (label noise) or λ + ρδ²/(2B) (USAM's leading term)."""
    sizes_ = dict(zip(MODELS[name].size_names, NUMERIC[name], strict=True))
    sizes_["d"] = 6
    config = ModelConfig(model=name, n=n, delta=2.0, eta=0.01, batch_size=1, algorithm=algorithm, rho=0.1, **sizes_)
    start = model_start(config)
    k = de.model_kernels(name)
    p = start.problem
    theta = start.theta0 + 0.3 * np.random.default_rng(2).normal(size=start.theta0.size)
    lam = config.eta * config.delta**2 / 4 + (config.rho * config.delta**2 / 2 if algorithm == "usam" else 0.0)
    Q = de.trace_rows(p.X)
    traces = [
        sum(k.norm_sq(theta, start.sizes, start.s, q) for q in Q),
        np.mean([k.norm_sq(theta, start.sizes, start.s, x) for x in p.X]),
    ]
    assert traces[0] == pytest.approx(traces[1], rel=1e-12)

    def objective(t):
        r = np.array([k.output(t, start.sizes, start.s, x) for x in p.X]) - p.y
        trG = np.mean([k.norm_sq(t, start.sizes, start.s, x) for x in p.X])
        return 0.5 * np.mean(r**2) + lam * trG

    out = np.empty_like(theta)
    args = (start.sizes, start.s, p.X, Q, p.Sigma_hat, p.Xty, flow_weights(config, "first-order"))
    flow_rhs_of(name)(0.0, theta, args, out)
    np.testing.assert_allclose(out, -_fd(objective, theta), atol=1e-6, rtol=1e-7)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"algorithm": "sam", "rho": 0.05},
        {"batch_size": 4, "replacement": False},
        {"batch_size": 30, "delta": 0.0},
        {"algorithm": "usam", "rho": 0.01, "batch_size": 30},
        {"parametrization": "ntk", "noise": "rademacher", "alpha": 0.5},
    ],
    ids=["sgd", "1-sam", "minibatch", "gd", "usam-full", "ntk-rademacher"],
)
def test_declared_two_layer_equals_specialized_engine(changes):
    """The generated engine on the declared f = s aᵀWx takes the steps of solvers/kernels.py on the
    same draws: final (W, a) equal to 1e-10 relative after 2000 steps."""
    base = dict(n=30, d=5, m=7, steps=2000, record_every=500, delta=4.0) | changes
    run = run_engine(SimulationConfig(**base, engine="direct"))
    Wt, a = run.engine.state()
    theta, ds = run_model(ModelConfig(model="two-layer", **base))
    expected = np.concatenate([Wt.T.ravel(), a])
    assert ds.attrs["status"] == "completed"
    assert np.max(np.abs(theta - expected)) <= 1e-10 * np.max(np.abs(expected))


def test_config_rejects_fields_of_other_models_by_name():
    with pytest.raises(ConfigError, match=r"h = 5 does not apply to model = 'diagonal'"):
        ModelConfig(model="diagonal", h=5)
    with pytest.raises(ConfigError, match=r"parametrization = 'mean-field' does not apply to model = 'deep-linear'"):
        ModelConfig(model="deep-linear", parametrization="mean-field")
    with pytest.raises(ConfigError, match=r"sparsity = 3 applies only to teacher = 'sparse'"):
        ModelConfig(model="diagonal", sparsity=3)
    with pytest.raises(ConfigError, match=r"model = 'cnn' is not valid"):
        ModelConfig(model="cnn")
    assert ModelConfig(model="deep-linear").h == 20 and ModelConfig(model="diagonal", teacher="sparse").sparsity == 5


def test_declarations_outside_the_class_are_rejected():
    x = sp.MatrixSymbol("x", sy.d, 1)
    a = sp.MatrixSymbol("a", sy.d, 1)
    W = sp.MatrixSymbol("W", sy.d, sy.d)
    par = (Parametrization("standard", sp.Integer(1), {"a": sp.Integer(1), "W": sp.Integer(1)}),)
    common = dict(description="", sizes=(sy.d,), blocks=(Block(W), Block(a)), x=x, s=sy.s, parametrizations=par)
    with pytest.raises(DeclarationError, match="not an outer product"):
        ModelDeclaration(name="twice", output=a.T * W * W.T * x, **common)
    with pytest.raises(DeclarationError, match="linear in x"):
        ModelDeclaration(name="quadratic", output=x.T * W * x, **common)


def test_generated_module_is_up_to_date():
    from lnsgd.theory import declared_codegen

    assert declared_codegen.GENERATED_PATH.read_text() == declared_codegen.module_source(), (
        "run `python -m lnsgd.theory.declared_codegen`"
    )
