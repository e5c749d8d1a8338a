"""Lab 1: the scalar engine (pyconv/scalar.py).

Each op's `_backward` is tested on its own (seed out.grad, call out._backward(), compare with a
central difference of plain Python math), and the backward pass on graphs whose nodes carry
backward closures written here, so a mistake is reported where it is.
"""
import math

import pytest

from pyconv.scalar import Value

pytestmark = pytest.mark.lab1


def central(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


def local_grads(out, seed=1.0):
    """Run only `out`'s own backward closure with out.grad = seed."""
    out.grad = seed
    out._backward()


# -- each op's backward closure -------------------------------------------------------------

def test_add_backward_gives_the_seed_to_both_operands():
    a, b = Value(2.0), Value(-3.0)
    out = a + b
    local_grads(out, 1.5)
    assert (a.grad, b.grad) == (1.5, 1.5)


def test_add_backward_accumulates_into_an_operand_used_twice():
    a = Value(4.0)
    out = a + a
    local_grads(out, 1.0)
    assert a.grad == 2.0


def test_mul_backward_gives_each_operand_the_other_times_the_seed():
    a, b = Value(2.0), Value(-3.0)
    out = a * b
    local_grads(out, 0.5)
    assert a.grad == pytest.approx(-1.5) and b.grad == pytest.approx(1.0)
    c = Value(3.0)
    square = c * c
    local_grads(square, 1.0)
    assert c.grad == pytest.approx(6.0)


@pytest.mark.parametrize("exponent", [2, 3, -1, 0.5, -2.5, 1])
def test_pow_backward_matches_the_derivative(exponent):
    x = Value(1.7)
    out = x ** exponent
    local_grads(out, 2.0)
    assert x.grad == pytest.approx(2.0 * central(lambda t: t ** exponent, 1.7), rel=1e-6)


def test_pow_backward_of_exponent_zero_is_zero():
    x = Value(0.0)
    out = x ** 0
    local_grads(out, 1.0)
    assert x.grad == 0.0


@pytest.mark.parametrize("x0", [-2.0, -0.3, 0.0, 1.2])
def test_exp_backward(x0):
    x = Value(x0)
    out = x.exp()
    local_grads(out, 3.0)
    assert x.grad == pytest.approx(3.0 * central(math.exp, x0), rel=1e-6)


@pytest.mark.parametrize("x0", [-2.0, -0.3, 0.0, 0.8, 3.0])
def test_tanh_backward(x0):
    x = Value(x0)
    out = x.tanh()
    local_grads(out, -1.5)
    assert x.grad == pytest.approx(-1.5 * central(math.tanh, x0), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("x0, slope", [(-2.0, 0.0), (-1e-3, 0.0), (0.5, 1.0), (3.0, 1.0)])
def test_relu_backward(x0, slope):
    x = Value(x0)
    out = x.relu()
    local_grads(out, 2.5)
    assert x.grad == 2.5 * slope


# -- the backward pass on graphs of hand-made nodes -------------------------------------------

def node(data, *children, scale=None):
    """A Value made from `children` whose backward sends scale[i] * out.grad to child i."""
    out = Value(data, tuple(children), "test")
    scale = scale or [1.0] * len(children)

    def _backward():
        for child, k in zip(children, scale):
            child.grad += k * out.grad
    out._backward = _backward
    return out


def test_topological_order_puts_every_value_after_its_children_once():
    a, b = Value(1.0), Value(2.0)
    c = node(0.0, a, b)
    d = node(0.0, c, a)
    e = node(0.0, d, c, b)
    order = e._topological_order()
    assert len(order) == 5 and {id(v) for v in order} == {id(v) for v in (a, b, c, d, e)}
    position = {id(v): i for i, v in enumerate(order)}
    for v in order:
        for child in v._prev:
            assert position[id(child)] < position[id(v)]
    assert order[-1] is e


def test_topological_order_of_a_deep_chain_needs_no_recursion():
    x = Value(0.0)
    v = x
    for _ in range(20000):
        v = node(0.0, v)
    order = v._topological_order()
    assert len(order) == 20001 and order[0] is x and order[-1] is v


def test_backward_sums_the_paths_of_a_diamond():
    # e = 2*c + 3*d, c = 5*a, d = 7*a: de/da = 2*5 + 3*7 = 31
    a = Value(1.0)
    c = node(0.0, a, scale=[5.0])
    d = node(0.0, a, scale=[7.0])
    e = node(0.0, c, d, scale=[2.0, 3.0])
    e.backward()
    assert a.grad == 31.0 and e.grad == 1.0 and (c.grad, d.grad) == (2.0, 3.0)


def test_backward_runs_each_node_after_every_node_that_uses_it():
    # a long path and a short one into the same node: it must wait for both
    a = Value(1.0)
    b = node(0.0, a, scale=[2.0])
    chain = b
    for _ in range(5):
        chain = node(0.0, chain)
    top = node(0.0, chain, b)
    top.backward()
    assert b.grad == 2.0 and a.grad == 4.0


def test_a_second_backward_adds_the_same_gradients_to_the_leaves():
    a, b = Value(1.0), Value(2.0)
    c = node(0.0, a, b, scale=[3.0, -1.0])
    out = node(0.0, c, c, scale=[1.0, 1.0])
    out.backward()
    first = (a.grad, b.grad, c.grad)
    out.backward()
    assert first == (6.0, -2.0, 2.0)
    assert (a.grad, b.grad) == (12.0, -4.0) and c.grad == 2.0  # inner nodes restart from 0


def test_backward_through_a_deep_chain():
    x = Value(0.0)
    v = x
    for _ in range(20000):
        v = node(0.0, v)
    v.backward()
    assert x.grad == 1.0


# -- everything together: ops and the backward pass -------------------------------------------

def neuron(x1, x2, w1, w2, b):
    return (x1 * w1 + x2 * w2 + b).tanh()


def test_a_neuron_against_finite_differences():
    args = [2.0, 0.0, -3.0, 1.0, 6.8813735870195432]
    values = [Value(v) for v in args]
    out = neuron(*values)
    out.backward()
    for i, v in enumerate(values):
        def f(t, i=i):
            shifted = list(args)
            shifted[i] = t
            return neuron(*[Value(s) for s in shifted]).data
        assert v.grad == pytest.approx(central(f, args[i]), rel=1e-5, abs=1e-8)


def test_composite_ops_against_finite_differences():
    def f(a, b):
        return ((a - b) / (b ** 2 + 1) + (a * 2).exp() - 3 / a + (-b).relu()).tanh() * a

    a0, b0 = 0.7, -1.3
    a, b = Value(a0), Value(b0)
    f(a, b).backward()
    assert a.grad == pytest.approx(central(lambda t: f(Value(t), Value(b0)).data, a0), rel=1e-5)
    assert b.grad == pytest.approx(central(lambda t: f(Value(a0), Value(t)).data, b0), rel=1e-5)


def test_an_mlp_of_values_learns_xor():
    import random
    rng = random.Random(0)
    hidden = [[Value(rng.uniform(-1, 1)) for _ in range(3)] for _ in range(4)]
    outer = [Value(rng.uniform(-1, 1)) for _ in range(5)]
    params = [p for row in hidden for p in row] + outer
    data = [((0.0, 0.0), -1.0), ((0.0, 1.0), 1.0), ((1.0, 0.0), 1.0), ((1.0, 1.0), -1.0)]

    def predict(x):
        h = [(w[0] * x[0] + w[1] * x[1] + w[2]).tanh() for w in hidden]
        return (sum((o * hi for o, hi in zip(outer, h)), outer[4])).tanh()

    for _ in range(300):
        loss = sum(((predict(x) - y) ** 2 for x, y in data), Value(0.0))
        for p in params:
            p.grad = 0.0
        loss.backward()
        for p in params:
            p.data -= 0.1 * p.grad
    assert loss.data < 0.05
    assert all((predict(x).data > 0) == (y > 0) for x, y in data)
