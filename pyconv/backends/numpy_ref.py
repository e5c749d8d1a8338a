"""The numpy reference backend: the executable specification of every primitive.

Each primitive's signature and semantics are in contract.py, the conventions in CONTRACT.md, the
output sizes in geometry.py. Size letters: x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q). The arrays
arrive checked by the op layer. Each primitive is written to be read first and still run
reasonably fast:

* conv2d forward is im2col: `as_strided` gives a (N,C,R,S,P,Q) view of the padded input, copied
  once into per-image (C*R*S, P*Q) column matrices, then one batched GEMM with the weights.
* conv2d backward-input is col2im: the gradient of the columns is scattered back by looping over
  the R*S kernel offsets, each one strided slice add, instead of a slow `np.add.at`.
* pooling views the windows the same way and reduces over them.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import conv_output_size, pool_output_size

NAME = "numpy"
DEVICE = "cpu"
xp = np


def available():
    return True, ""


# One step per primitive: the reference is the spec the other backends' steps are checked against.
_STEP_DOCS = {
    "conv2d_forward": "im2col through as_strided, one batched GEMM (BLAS)",
    "conv2d_backward_input": "GEMM with w^T, col2im by R*S strided slice adds",
    "conv2d_backward_weight": "im2col, one GEMM with dy summed over the batch",
    "conv2d_backward_bias": "dy summed over N, P, Q",
    "max_pool2d_forward": "windows as a strided view, argmax over each",
    "max_pool2d_backward": "dy added at the saved indices (np.bincount)",
    "min_pool2d_forward": "windows as a strided view, argmin over each",
    "min_pool2d_backward": "dy added at the saved indices (np.bincount)",
    "avg_pool2d_forward": "windows as a strided view, mean over each",
    "avg_pool2d_backward": "each window's share of dy added back, one slice per tap",
    "matmul": "numpy.matmul",
    "matmul_backward_a": "numpy.matmul with b transposed",
    "matmul_backward_b": "numpy.matmul with a transposed",
}


def kernel_steps():
    """{primitive: ((name, doc),)}: the reference has one step per primitive."""
    return {name: (("reference", doc),) for name, doc in _STEP_DOCS.items()}


def default_step(primitive):
    return 1


# -- shared helpers ---------------------------------------------------------------------------

def _pad(x, top, bottom, left, right, value=0.0):
    """x with rows and columns of `value` around each plane. The reference materialises the padded
    input, so a huge padding (valid, when a huge stride keeps the output small) is a MemoryError
    here; the c backend computes such shapes without the padded copy."""
    if top == bottom == left == right == 0:
        return x
    count = x.shape[0] * x.shape[1] * (x.shape[2] + top + bottom) * (x.shape[3] + left + right)
    if count * x.itemsize >= 2 ** 48:
        raise MemoryError(f"the numpy reference would pad its input to {count} elements")
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _windows(xpad, R, S, P, Q, stride, dilation):
    """(N,C,R,S,P,Q) read-only view: [n,c,r,s,p,q] = xpad[n, c, p*sh + r*dh, q*sw + s*dw]."""
    # BEGIN LAB 3: the (N,C,R,S,P,Q) view [n,c,r,s,p,q] = xpad[n, c, p*sh + r*dh, q*sw + s*dw]
    (sh, sw), (dh, dw) = stride, dilation
    N, C = xpad.shape[:2]
    bn, bc, bh, bw = xpad.strides
    # a step over an axis of length 1 is never taken: 0 keeps a huge stride or dilation (2**60)
    # from overflowing the byte strides
    steps = [b * k if n > 1 else 0 for b, k, n in ((bh, dh, R), (bw, dw, S), (bh, sh, P), (bw, sw, Q))]
    return as_strided(xpad, shape=(N, C, R, S, P, Q), strides=(bn, bc, *steps), writeable=False)
    # END LAB 3


def _scatter_windows(dcols, Hp, Wp, stride, dilation):
    """col2im: the adjoint of _windows. dcols (N,C,R,S,P,Q) -> (N,C,Hp,Wp), one slice-add per (r,s)."""
    # BEGIN LAB 3: col2im: add each dcols[n,c,r,s,p,q] back at xpad[n, c, p*sh + r*dh, q*sw + s*dw]
    (sh, sw), (dh, dw) = stride, dilation
    N, C, R, S, P, Q = dcols.shape
    dxpad = np.zeros((N, C, Hp, Wp), dtype=dcols.dtype)
    for r in range(R):
        for s in range(S):
            h0, w0 = r * dh, s * dw
            dxpad[:, :, h0:h0 + (P - 1) * sh + 1:sh, w0:w0 + (Q - 1) * sw + 1:sw] += dcols[:, :, r, s]
    return dxpad
    # END LAB 3


# -- conv2d -----------------------------------------------------------------------------------

def _im2col(x, R, S, P, Q, stride, padding, dilation):
    """(N, C*R*S, P*Q) column matrices, one per image: copied from the strided window view."""
    # BEGIN LAB 3: im2col: (N, C*R*S, P*Q) columns of the padded input, row (c*R + r)*S + s, column p*Q + q
    N, C = x.shape[:2]
    cols = _windows(_pad(x, *padding), R, S, P, Q, stride, dilation)
    return np.ascontiguousarray(cols).reshape(N, C * R * S, P * Q)
    # END LAB 3


def conv2d_forward(x, w, b, stride, padding, dilation):
    """y[n,k,p,q] = b[k] + sum_{c,r,s} w[k,c,r,s] * xpad[n, c, p*sh + r*dh, q*sw + s*dw].

    Per image one GEMM: (K, C*R*S) @ (C*R*S, P*Q), which is already the NCHW output layout."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = conv_output_size(H, W, R, S, stride, padding, dilation)
    # BEGIN LAB 3: the forward GEMM: (K, C*R*S) weights times each image's columns, plus the bias
    cols = _im2col(x, R, S, P, Q, stride, padding, dilation)
    y = np.matmul(w.reshape(K, C * R * S), cols)                     # (N, K, P*Q)
    if b is not None:
        y += b.reshape(K, 1)
    return y.reshape(N, K, P, Q)
    # END LAB 3


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation):
    """dx = col2im(w^T dy), cropped back to (N,C,H,W)."""
    N, C, H, W = x_shape
    K, _, R, S = w.shape
    P, Q = dy.shape[2:]
    pt, pb, pl, pr = padding
    # BEGIN LAB 3: dx: the columns' gradient w^T dy, col2im, cropped to (N,C,H,W)
    dcols = np.matmul(w.reshape(K, C * R * S).T, dy.reshape(N, K, P * Q))   # (N, C*R*S, P*Q)
    dxpad = _scatter_windows(dcols.reshape(N, C, R, S, P, Q), H + pt + pb, W + pl + pr,
                             stride, dilation)
    return np.ascontiguousarray(dxpad[:, :, pt:pt + H, pl:pl + W])
    # END LAB 3


def conv2d_backward_weight(dy, x, w_shape, stride, padding, dilation):
    """dw[k,c,r,s] = sum_{n,p,q} dy[n,k,p,q] * xpad[n, c, p*sh + r*dh, q*sw + s*dw]."""
    K, C, R, S = w_shape
    N, _, P, Q = dy.shape
    # BEGIN LAB 3: dw: dy times the columns transposed, summed over the batch
    cols = _im2col(x, R, S, P, Q, stride, padding, dilation)
    dw = np.matmul(dy.reshape(N, K, P * Q), cols.transpose(0, 2, 1)).sum(axis=0)
    return dw.reshape(K, C, R, S)
    # END LAB 3


def conv2d_backward_bias(dy):
    # BEGIN LAB 3: db: dy summed over everything but K
    return np.ascontiguousarray(dy.sum(axis=(0, 2, 3)))
    # END LAB 3


# -- pooling ----------------------------------------------------------------------------------

def _pool_windows(x, kernel, stride, padding, fill):
    """(N,C,P,Q,R*S) copy of the pooling windows, padding read as `fill`."""
    # BEGIN LAB 4: the (N,C,P,Q,R*S) windows of x padded by `fill`, window elements in row-major order
    (R, S), (ph, pw) = kernel, padding
    N, C, H, W = x.shape
    P, Q = pool_output_size(H, W, kernel, stride, padding)
    win = _windows(_pad(x, ph, ph, pw, pw, fill), R, S, P, Q, stride, (1, 1))
    return win.transpose(0, 1, 4, 5, 2, 3).reshape(N, C, P, Q, R * S)
    # END LAB 4


def _arg_pool(x, kernel, stride, padding, fill, arg):
    """Max or min pooling: value and flat input index (h*W + w) of the chosen element.

    np.argmax/argmin return the first extreme in row-major window order, and the first NaN when
    there is one, which is the contract every backend follows.
    """
    # BEGIN LAB 4: y and the flat index h*W + w of each window's first extreme (`arg` is np.argmax or np.argmin)
    (R, S), (sh, sw), (ph, pw) = kernel, stride, padding
    H, W = x.shape[2:]
    win = _pool_windows(x, kernel, stride, padding, fill)
    j = arg(win, axis=-1)                                            # (N,C,P,Q) offset in window
    P, Q = j.shape[2:]
    p0 = np.arange(P).reshape(P, 1) * sh - ph                        # window origin, may be < 0
    q0 = np.arange(Q).reshape(1, Q) * sw - pw
    h, w = p0 + j // S, q0 + j % S
    # A window whose real pixels all equal the padding value (+-inf) ties with the padding;
    # the contract picks a real pixel then: the window's first one.
    in_pad = (h < 0) | (h >= H) | (w < 0) | (w >= W)
    h = np.where(in_pad, np.maximum(p0, 0), h)
    w = np.where(in_pad, np.maximum(q0, 0), w)
    idx = (h * W + w).astype(np.int64)
    y = np.take_along_axis(x.reshape(*x.shape[:2], H * W), idx.reshape(*idx.shape[:2], P * Q), axis=-1)
    return np.ascontiguousarray(y.reshape(idx.shape)), idx
    # END LAB 4


def _scatter_index(dy, idx, x_shape):
    """dx with every dy[n,c,p,q] added at plane index idx[n,c,p,q] (windows may overlap)."""
    # BEGIN LAB 4: dx: every dy[n,c,p,q] added at plane index idx[n,c,p,q] (windows may overlap)
    N, C, H, W = x_shape
    plane = np.arange(N * C, dtype=np.int64).reshape(N, C, 1, 1) * (H * W)
    dx = np.bincount((plane + idx).ravel(), weights=dy.ravel(), minlength=N * C * H * W)
    return dx.astype(dy.dtype, copy=False).reshape(x_shape)
    # END LAB 4


def max_pool2d_forward(x, kernel, stride, padding):
    return _arg_pool(x, kernel, stride, padding, -np.inf, np.argmax)


def max_pool2d_backward(dy, idx, x_shape):
    return _scatter_index(dy, idx, x_shape)


def min_pool2d_forward(x, kernel, stride, padding):
    return _arg_pool(x, kernel, stride, padding, np.inf, np.argmin)


def min_pool2d_backward(dy, idx, x_shape):
    return _scatter_index(dy, idx, x_shape)


def avg_pool2d_forward(x, kernel, stride, padding):
    """Mean over each R*S window; padded zeros count (divisor is always R*S)."""
    # BEGIN LAB 4: the mean of each window, padded zeros included (divide by R*S)
    R, S = kernel
    win = _pool_windows(x, kernel, stride, padding, 0.0)
    return np.ascontiguousarray(win.sum(axis=-1) / x.dtype.type(R * S))
    # END LAB 4


def avg_pool2d_backward(dy, x_shape, kernel, stride, padding):
    """Each window spreads dy/(R*S) over its R*S cells: col2im with a constant column."""
    # BEGIN LAB 4: dx: each window spreads dy / (R*S) over its cells, cropped to (N,C,H,W)
    (R, S), (ph, pw) = kernel, padding
    N, C, H, W = x_shape
    P, Q = dy.shape[2:]
    share = dy / dy.dtype.type(R * S)
    dcols = np.broadcast_to(share[:, :, None, None], (N, C, R, S, P, Q))
    dxpad = _scatter_windows(dcols, H + 2 * ph, W + 2 * pw, stride, (1, 1))
    return np.ascontiguousarray(dxpad[:, :, ph:ph + H, pw:pw + W])
    # END LAB 4


# -- matmul -----------------------------------------------------------------------------------

def matmul(a, b):
    """(B,M,K) @ (B,K,N) -> (B,M,N)."""
    return np.ascontiguousarray(np.matmul(a, b))


def matmul_backward_a(dc, b):
    """da = dc @ b^T: (B,M,N) x (B,K,N) -> (B,M,K)."""
    # BEGIN LAB 2: da = dc @ b^T for each of the B products
    return np.ascontiguousarray(np.matmul(dc, b.transpose(0, 2, 1)))
    # END LAB 2


def matmul_backward_b(a, dc):
    """db = a^T @ dc: (B,M,K) x (B,M,N) -> (B,K,N)."""
    # BEGIN LAB 2: db = a^T @ dc for each of the B products
    return np.ascontiguousarray(np.matmul(a.transpose(0, 2, 1), dc))
    # END LAB 2
