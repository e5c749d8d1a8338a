"""Value: reverse-mode autograd on Python floats, the whole engine in one small class.

    a, b = Value(2.0), Value(-3.0)
    c = (a * b + 1).tanh()
    c.backward()          # a.grad, b.grad now hold dc/da, dc/db

Each operator computes its result, records the Values it came from, and defines right below
how the gradient flows back to them (`_backward`). `backward()` orders the graph with an
iterative depth-first search (no recursion, so a chain of 100000 ops works) and calls every
`_backward` once, from the output back to the leaves.

Gradients accumulate (`+=`): that is what makes a Value used twice correct, and it also means
that a second `backward()` adds to the leaves' gradients of the first (as PyTorch). Call
`zero_grad()` on the output (it clears every Value of its graph) or set `.grad = 0` before
computing new ones.
"""
import math


class Value:
    __slots__ = ("data", "grad", "_backward", "_prev", "_op")

    def __init__(self, data, _children=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = _children
        self._op = _op  # the op that made this Value, for printing graphs

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            # BEGIN LAB 1: the gradient of a + b flows to a and b
            self.grad += out.grad
            other.grad += out.grad
            # END LAB 1
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            # BEGIN LAB 1: the gradient of a * b flows to a and b
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
            # END LAB 1
        out._backward = _backward
        return out

    def __pow__(self, exponent):
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"Value ** supports int/float exponents, got {type(exponent).__name__}")
        out = Value(self.data ** exponent, (self,), f"**{exponent}")

        def _backward():
            # BEGIN LAB 1: the gradient of x ** exponent (an int or float)
            self.grad += exponent * self.data ** (exponent - 1) * out.grad if exponent else 0.0
            # END LAB 1
        out._backward = _backward
        return out

    def exp(self):
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():
            # BEGIN LAB 1: the gradient of exp(x)
            self.grad += out.data * out.grad
            # END LAB 1
        out._backward = _backward
        return out

    def log(self):
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            self.grad += out.grad / self.data
        out._backward = _backward
        return out

    def tanh(self):
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():
            # BEGIN LAB 1: the gradient of tanh(x)
            self.grad += (1 - out.data ** 2) * out.grad
            # END LAB 1
        out._backward = _backward
        return out

    def sigmoid(self):
        x = self.data  # the form that cannot overflow for either sign of x
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        out = Value(s, (self,), "sigmoid")

        def _backward():
            self.grad += s * (1 - s) * out.grad
        out._backward = _backward
        return out

    def relu(self):
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            # BEGIN LAB 1: the gradient of relu(x)
            self.grad += (self.data > 0) * out.grad
            # END LAB 1
        out._backward = _backward
        return out

    def _topological_order(self):
        """Every Value that leads to self, each after the Values it was made from."""
        # BEGIN LAB 1: every Value that leads to self, each after the Values it was made from (no recursion)
        order, visited, stack = [], set(), [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
            elif id(node) not in visited:
                visited.add(id(node))
                stack.append((node, True))
                stack.extend((child, False) for child in node._prev if id(child) not in visited)
        return order
        # END LAB 1

    def backward(self):
        """d(self)/d(v) added into v.grad for every leaf v of the graph (accumulates).

        Inner Values restart from 0, so that a second call adds exactly the same gradients
        to the leaves again."""
        # BEGIN LAB 1: the backward pass: inner grads to 0, seed 1, every _backward from the output back
        order = self._topological_order()
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad += 1.0
        for node in reversed(order):
            node._backward()
        # END LAB 1

    def zero_grad(self):
        """Set .grad to 0 on self and every Value it was computed from."""
        for node in self._topological_order():
            node.grad = 0.0

    # composite ops: one line each on the primitives above
    def __neg__(self): return self * -1
    def __radd__(self, other): return self + other
    def __sub__(self, other): return self + (-other)
    def __rsub__(self, other): return other + (-self)
    def __rmul__(self, other): return self * other
    def __truediv__(self, other): return self * other ** -1
    def __rtruediv__(self, other): return other * self ** -1

    def __repr__(self):
        return f"Value(data={self.data}, grad={self.grad})"
