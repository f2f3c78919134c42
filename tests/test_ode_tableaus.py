"""Algebra of the Butcher tableaus (after scipy tests/test_rk.py::test_coefficient_properties).

Order conditions are generated from rooted trees: a method has order p iff b·Φ(τ) = 1/γ(τ) for every
rooted tree τ with at most p nodes, Φ(τ) = Π_children (A Φ(child)) (Hairer–Nørsett–Wanner I, §II.2).
"""

from functools import cache

import numpy as np
import pytest

from lnsgd.solvers.tableaus import TABLEAUS


@cache
def _forests(n: int) -> frozenset:
    """All multisets (sorted tuples) of rooted trees with n nodes in total; a tree is its forest of children."""
    if n == 0:
        return frozenset({()})
    out = set()
    for k in range(1, n + 1):
        for tree in _forests(k - 1):
            for rest in _forests(n - k):
                out.add(tuple(sorted((tree,) + rest)))
    return frozenset(out)


def _trees(max_nodes: int) -> list[tuple[int, tuple]]:
    return [(n, t) for n in range(1, max_nodes + 1) for t in _forests(n - 1)]


def _phi(tree: tuple, a: np.ndarray) -> np.ndarray:
    out = np.ones(a.shape[0])
    for child in tree:
        out = out * (a @ _phi(child, a))
    return out


def _gamma(tree: tuple, n_nodes: int) -> float:
    out = float(n_nodes)
    for child in tree:
        out *= _gamma(child, 1 + _size(child))
    return out


def _size(tree: tuple) -> int:
    return sum(1 + _size(c) for c in tree)


def test_tree_count():
    assert [len(_forests(n - 1)) for n in range(1, 6)] == [1, 1, 2, 4, 9]


@pytest.mark.parametrize("name", sorted(TABLEAUS))
def test_coefficient_properties(name):
    tab = TABLEAUS[name]
    np.testing.assert_allclose(tab.a.sum(axis=1), tab.c, rtol=0, atol=1e-15)
    np.testing.assert_allclose(tab.p.sum(axis=1), tab.b, rtol=0, atol=1e-14)  # dense output at θ = 1
    if tab.fsal:
        np.testing.assert_array_equal(tab.a[-1], tab.b)
        assert tab.c[-1] == 1.0 and tab.b[-1] == 0.0


@pytest.mark.parametrize("name", sorted(TABLEAUS))
def test_order_conditions(name):
    tab = TABLEAUS[name]
    for n, tree in _trees(tab.order + 1):
        residual = tab.b @ _phi(tree, tab.a) - 1.0 / _gamma(tree, n)
        if n <= tab.order:
            assert abs(residual) < 1e-14, (name, tree)
    # The method is not of higher order: some tree of order+1 nodes fails.
    assert any(
        abs(tab.b @ _phi(t, tab.a) - 1.0 / _gamma(t, n)) > 1e-6 for n, t in _trees(tab.order + 1) if n == tab.order + 1
    )
    if tab.adaptive:
        b_hat = tab.b + tab.e
        for n, tree in _trees(tab.error_order):
            assert abs(b_hat @ _phi(tree, tab.a) - 1.0 / _gamma(tree, n)) < 1e-14, (name, tree)


@pytest.mark.parametrize("name", sorted(TABLEAUS))
@pytest.mark.parametrize("theta", [0.1, 0.5, 0.77])
def test_dense_output_conditions(name, theta):
    """b(θ)·Φ(τ) = θ^|τ|/γ(τ) for |τ| <= dense_order, b_i(θ) = Σ_j p_ij θ^{j+1}."""
    tab = TABLEAUS[name]
    b_theta = tab.p @ theta ** np.arange(1, tab.p.shape[1] + 1)
    for n, tree in _trees(tab.dense_order):
        assert abs(b_theta @ _phi(tree, tab.a) - theta**n / _gamma(tree, n)) < 1e-14, (name, tree)
