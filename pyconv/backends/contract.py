"""The backend contract as code: the primitives every backend module exposes, with their shapes.

`Primitives` names each primitive once, with its signature and semantics; `Backend` adds the
module attributes. A backend is a module, not a class: it satisfies the Protocol when it
defines these names with these parameters (it may add keyword-only options with defaults after
them; kernel steps are chosen through pyconv.kernels, not by arguments). The registry's
PRIMITIVES tuple is read from `Primitives`, and tests/test_backend_contract.py checks every
backend module against it.

Conventions (CONTRACT.md): layout NCHW, x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q); arrays arrive
C-contiguous and of one float dtype; output sizes as in `geometry.py`. Every returned array is
new, C-contiguous and of the input dtype (except the int64 pooling indices).
"""
from typing import Any, Protocol, Tuple, runtime_checkable

Array = Any  # a numpy.ndarray on the CPU backends, a cupy.ndarray on "cuda"
Pair = Tuple[int, int]
Shape4 = Tuple[int, int, int, int]
Padding4 = Tuple[int, int, int, int]   # conv2d's (top, bottom, left, right)


class Primitives(Protocol):
    """The heavy primitives, in the order the registry lists them."""

    # -- conv2d: stride (sh, sw) and dilation (dh, dw) >= 1, padding (pt, pb, pl, pr) >= 0 -------

    def conv2d_forward(self, x: Array, w: Array, b: Array | None, stride: Pair, padding: Padding4,
                       dilation: Pair) -> Array:
        """y (N,K,P,Q)[n,k,p,q] = b[k] + sum_{c,r,s} w[k,c,r,s] * x[n, c, p*sh - pt + r*dh,
        q*sw - pl + s*dw], where x reads zero outside [0,H)x[0,W). b is (K,) or None."""

    def conv2d_backward_input(self, dy: Array, w: Array, x_shape: Shape4, stride: Pair,
                              padding: Padding4, dilation: Pair) -> Array:
        """dx (N,C,H,W): the gradient of conv2d_forward's sum with respect to x, given dy (N,K,P,Q)."""

    def conv2d_backward_weight(self, dy: Array, x: Array, w_shape: Shape4, stride: Pair,
                               padding: Padding4, dilation: Pair) -> Array:
        """dw (K,C,R,S)[k,c,r,s] = sum_{n,p,q} dy[n,k,p,q] * x[n, c, p*sh - pt + r*dh, q*sw - pl + s*dw]."""

    def conv2d_backward_bias(self, dy: Array) -> Array:
        """db (K,) = dy (N,K,P,Q) summed over N, P and Q."""

    # -- pooling: kernel (R, S) and stride >= 1, padding (ph, pw) with ph <= R//2, pw <= S//2 -----

    def max_pool2d_forward(self, x: Array, kernel: Pair, stride: Pair, padding: Pair) -> tuple[Array, Array]:
        """(y, idx), both (N,C,P,Q): y the maximum of each window, padding read as -inf; idx
        (int64) the flat index h*W + w in its input plane of the chosen element. The chosen
        element is the first NaN in row-major window order if the window holds a NaN, else the
        first maximum; it is always a real pixel (when the real pixels all equal -inf, the
        window's first real pixel)."""

    def max_pool2d_backward(self, dy: Array, idx: Array, x_shape: Shape4) -> Array:
        """dx (N,C,H,W): each dy[n,c,p,q] added at plane index idx[n,c,p,q] (overlapping windows
        accumulate)."""

    def min_pool2d_forward(self, x: Array, kernel: Pair, stride: Pair, padding: Pair) -> tuple[Array, Array]:
        """(y, idx) as max_pool2d_forward, with the minimum; padding reads as +inf."""

    def min_pool2d_backward(self, dy: Array, idx: Array, x_shape: Shape4) -> Array:
        """dx (N,C,H,W) as max_pool2d_backward."""

    def avg_pool2d_forward(self, x: Array, kernel: Pair, stride: Pair, padding: Pair) -> Array:
        """y (N,C,P,Q): each window's sum / (R*S), padded zeros counted (PyTorch's
        count_include_pad=True)."""

    def avg_pool2d_backward(self, dy: Array, x_shape: Shape4, kernel: Pair, stride: Pair,
                            padding: Pair) -> Array:
        """dx (N,C,H,W): each window spreads dy[n,c,p,q] / (R*S) over its cells that are real pixels."""

    # -- matmul: batched; the op layer broadcasts operands to 3-D and reduces gradients back -------

    def matmul(self, a: Array, b: Array) -> Array:
        """c (B,M,N) = a (B,M,K) @ b (B,K,N)."""

    def matmul_backward_a(self, dc: Array, b: Array) -> Array:
        """da (B,M,K) = dc (B,M,N) @ b^T, b (B,K,N)."""

    def matmul_backward_b(self, a: Array, dc: Array) -> Array:
        """db (B,K,N) = a^T @ dc, a (B,M,K), dc (B,M,N)."""


@runtime_checkable
class Backend(Primitives, Protocol):
    """A backend module: the primitives plus what the registry reads."""

    NAME: str      # "numpy", "c", "cuda"
    DEVICE: str    # "cpu" or "cuda"
    xp: Any        # the array module: numpy or cupy (None when CuPy is missing)

    def available(self) -> tuple[bool, str]:
        """(True, "") when the backend can run here, else (False, why not)."""

    def kernel_steps(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """{primitive: ((short name, one-line description), ...)}, step 1 first: the kernel
        ladder that pyconv.kernels lists and chooses from (one step where there is no ladder)."""

    def default_step(self, primitive: str) -> int:
        """The step `primitive` runs when pyconv.kernels has no choice for it."""


PRIMITIVES = tuple(name for name, value in vars(Primitives).items()
                   if callable(value) and not name.startswith("_"))
