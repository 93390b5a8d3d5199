"""Checks that the diagnoses written in tests/fixtures/seed_backward.py hold, by finite
differences of the losses the seeds state."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures.seed_backward import seed000_backward, seed001_backward, seed003_gradient


def _fd(loss, params, eps=1e-6):
    grads = []
    for p in params:
        g = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = loss()
            p[idx] = old - eps
            down = loss()
            p[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def _sig(x):
    return 1 / (1 + np.exp(-x))


def test_seed000_backward_is_N_times_the_gradient():
    rng = np.random.default_rng(0)
    N = 7
    X, y = rng.random((N, 2)), rng.integers(0, 2, (N, 1)).astype(float)
    W1, b1, W2, b2 = rng.random((2, 5)), rng.random(5), rng.random((5, 1)), rng.random(1)

    def forward():
        z1 = X @ W1 + b1
        a1 = _sig(z1)
        z2 = a1 @ W2 + b2
        return z1, a1, z2, _sig(z2)

    loss = lambda: 0.5 * np.mean((y - forward()[3]) ** 2)  # noqa: E731
    fd = _fd(loss, [W1, W2, b1, b2])
    got = seed000_backward(X, y, *forward(), W1, W2)
    for g, f in zip(got, fd):
        assert np.allclose(g, N * f, rtol=1e-5, atol=1e-9)
        assert not np.allclose(g, f, rtol=1e-3)
    # with y of shape (N,), as in the seed's main, a2 - y broadcasts to (N, N) and the
    # backward pass itself fails
    with pytest.raises(ValueError):
        seed000_backward(X, y.ravel(), *forward(), W1, W2)


def test_seed001_backward_is_wrong_for_relu_output():
    inputs = np.array([[1., 2.], [2., 3.], [3., 4.], [4., 5.]])
    targets = np.array([[0.], [0.], [1.], [1.]])
    rng = np.random.default_rng(3)
    W1, b1 = rng.random((2, 3)) * 0.2, rng.random(3) * 0.1
    W2, b2 = rng.random((3, 1)) * 0.2, np.array([0.05])

    def forward():
        z1 = inputs @ W1 + b1
        a1 = np.maximum(0, z1)
        z2 = a1 @ W2 + b2
        return a1, np.maximum(0, z2), z1, z2

    a1, a2, z1, z2 = forward()
    assert np.all((a2 > 0) & (a2 < 1))  # BCE defined at this point

    def loss():
        out = forward()[1]
        return -np.mean(targets * np.log(out) + (1 - targets) * np.log(1 - out))

    fd_W1, fd_W2 = _fd(loss, [W1, W2])
    dW1, dW2, db1, db2 = seed001_backward(inputs, a2, targets, W1, b1, W2, b2, a1, a2, z1, z2)
    assert not np.allclose(dW2, fd_W2, rtol=1e-2)
    assert db2.shape == (4, 1)  # summed over the wrong axis
    # the right output delta for ReLU + BCE, then the seed's own hidden-layer formulas, /N
    N = len(inputs)
    dz2 = (a2 - targets) / (a2 * (1 - a2)) * (z2 > 0) / N
    assert np.allclose(a1.T @ dz2, fd_W2, rtol=1e-5)
    assert np.allclose(inputs.T @ ((dz2 @ W2.T) * (a1 > 0)), fd_W1, rtol=1e-5)


@pytest.mark.parametrize("column_y", [True, False])
def test_seed003_gradient_misses_factor_two(column_y):
    X = np.array([[1.], [2.], [3.], [4.]])
    y = np.array([2., 4., 6., 8.])
    W, b = np.array([[0.5]]), np.array([0.5])
    if not column_y:  # as in the seed: (4,) against (4, 1) broadcasts to (4, 4)
        assert seed003_gradient(X, y, W, b)[0].shape == (1, 4)
        return
    yc = y[:, None]
    loss = lambda: np.mean((yc - (X @ W + b)) ** 2)  # noqa: E731
    fd_W, fd_b = _fd(loss, [W, b])
    gW, gb = seed003_gradient(X, yc, W, b)
    assert np.allclose(2 * gW, fd_W, rtol=1e-6) and np.isclose(2 * gb, fd_b[0], rtol=1e-6)
