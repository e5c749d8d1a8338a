"""Activation layers, thin wrappers of the functional ops. `inplace=True` is accepted, as in
PyTorch, but the output is always a new tensor: the input is left unchanged."""
from . import functional as F
from .module import Module


class ReLU(Module):
    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}"


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    """Softmax along dim; without dim, PyTorch's legacy implicit axis (with its warning)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim, _stacklevel=5)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim, _stacklevel=5)


class Maxout(Module):
    """Maximum over groups of pool_size consecutive features along dim (channels by default)."""

    def __init__(self, pool_size, dim=1):
        super().__init__()
        self.pool_size, self.dim = pool_size, dim

    def forward(self, x):
        return F.maxout(x, self.pool_size, self.dim)

    def extra_repr(self):
        return f"pool_size={self.pool_size}, dim={self.dim}"
