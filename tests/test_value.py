"""Value: the scalar engine, against hand-computed gradients."""
import math

import pytest

from pyconv.scalar import Value


def test_micrograd_sanity_expression():
    # micrograd's test_sanity_check: y = relu(z*z) + ..., dy/dx = 46 (by hand)
    x = Value(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert y.data == pytest.approx(-20.0)
    assert x.grad == pytest.approx(46.0)


def test_micrograd_more_ops_expression():
    # micrograd's test_more_ops (values and gradients published with it, checked by PyTorch)
    a, b = Value(-4.0), Value(2.0)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.backward()
    assert g.data == pytest.approx(24.70408163265306, rel=1e-12)
    assert a.grad == pytest.approx(138.83381924198252, rel=1e-12)
    assert b.grad == pytest.approx(645.5772594752186, rel=1e-12)


@pytest.mark.parametrize("name, f, df", [
    ("exp", lambda v: v.exp(), math.exp),
    ("log", lambda v: v.log(), lambda x: 1 / x),
    ("tanh", lambda v: v.tanh(), lambda x: 1 - math.tanh(x) ** 2),
    ("sigmoid", lambda v: v.sigmoid(), lambda x: math.exp(-x) / (1 + math.exp(-x)) ** 2),
    ("relu", lambda v: v.relu(), lambda x: float(x > 0)),
    ("pow", lambda v: v ** 3, lambda x: 3 * x ** 2),
    ("sqrt", lambda v: v ** 0.5, lambda x: 0.5 / math.sqrt(x)),
    ("neg", lambda v: -v, lambda x: -1.0),
    ("rsub", lambda v: 2 - v, lambda x: -1.0),
    ("rdiv", lambda v: 2 / v, lambda x: -2 / x ** 2),
    ("div", lambda v: v / 4, lambda x: 0.25),
    ("radd_rmul", lambda v: 3 + 2 * v, lambda x: 2.0),
])
@pytest.mark.parametrize("x", [0.7, 1.9])
def test_unary_gradients(name, f, df, x):
    v = Value(x)
    f(v).backward()
    assert v.grad == pytest.approx(df(x), rel=1e-9)


def test_sigmoid_extremes_do_not_overflow():
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0


def test_value_used_twice_accumulates():
    a = Value(3.0)
    b = a * a + a
    b.backward()
    assert a.grad == 7.0


def test_two_backward_calls_add_up_and_zero_grad_clears():
    a, b = Value(2.0), Value(-3.0)
    out = (a * b + 1).tanh() * 3
    out.backward()
    first = (a.grad, b.grad)
    out.backward()
    assert (a.grad, b.grad) == pytest.approx((2 * first[0], 2 * first[1]))
    out.zero_grad()
    assert a.grad == b.grad == 0.0
    out.backward()
    assert (a.grad, b.grad) == pytest.approx(first)


def test_deep_chain_has_no_recursion_limit():
    x = Value(0.5)
    y = x
    for _ in range(100_000):
        y = y * 1.0001
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 100_000, rel=1e-6)


def test_pow_needs_a_number():
    with pytest.raises(TypeError):
        Value(2.0) ** Value(3.0)
