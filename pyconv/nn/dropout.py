"""Dropout layer."""
from . import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training (scaling the rest by 1/(1-p)); the
    identity in eval mode. Random numbers come from `generator`, else from pyconv's global
    generator (`pyconv.manual_seed`). inplace is accepted, but the output is always a new
    tensor."""

    def __init__(self, p=0.5, inplace=False, generator=None):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p, self.inplace, self.generator = p, inplace, generator

    def forward(self, x):
        return F.dropout(x, self.p, self.training, generator=self.generator)

    def extra_repr(self):
        return f"p={self.p}"
