"""Dropout layer."""
from . import functional as F
from . import init
from .module import Module


class Dropout(Module):
    """Zero each element with probability p in training (scaling the rest by 1/(1-p)); the
    identity in eval mode. Random numbers come from `generator` or nn.init's seeded generator."""

    def __init__(self, p=0.5, generator=None):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p, self.generator = p, generator

    def forward(self, x):
        generator = self.generator or init.default_generator()
        return F.dropout(x, self.p, self.training, generator=generator if x.device == "cpu" else None)

    def extra_repr(self):
        return f"p={self.p}"
