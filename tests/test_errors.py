"""Bad input raises a clear exception that names the problem and the shapes."""
import numpy as np
import pytest

import pyconv.nn.functional as F
from pyconv.tensor import tensor


def t(*shape, dtype=np.float64):
    return tensor(np.random.default_rng(0).standard_normal(shape).astype(dtype))


def labels(*values):
    return tensor(np.array(values, dtype=np.int64))


# -- conv2d -------------------------------------------------------------------------------------

CONV_ERRORS = [
    (lambda: F.conv2d(t(3, 5, 5), t(2, 3, 3, 3)), ValueError, r"4-D input x .* shape \(3, 5, 5\)"),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(3, 3, 3)), ValueError, r"4-D weight w .* shape \(3, 3, 3\)"),
    (lambda: F.conv2d(t(1, 3, 5, 5), t(2, 4, 3, 3)), ValueError,
     r"input has 3 channels but the weight expects 4 \(x shape \(1, 3, 5, 5\), w shape \(2, 4, 3, 3\)\)"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 5, 5)), ValueError,
     r"kernel 5x5 is larger than the padded input 4x4 \(x shape \(1, 1, 4, 4\), w shape \(1, 1, 5, 5\)"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3), dilation=2), ValueError, r"kernel 5x5 is larger"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3), stride=0), ValueError, r"stride must be positive, got 0"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3), stride=(1, -2)), ValueError, r"stride must be positive"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3), dilation=0), ValueError, r"dilation must be positive"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3), padding=-1), ValueError, r"padding must be non-negative"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3), padding=(0, 1, -1, 0)), ValueError,
     r"padding must be non-negative"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3), padding="full"), ValueError, r"unknown padding 'full'"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3), padding=1.5), TypeError, r"padding must be an int"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(2, 1, 3, 3), t(3)), ValueError,
     r"bias must have shape \(2,\) .* got b of shape \(3,\)"),
    (lambda: F.conv2d(t(1, 1, 4, 4), t(1, 1, 3, 3, dtype=np.float32)), TypeError,
     r"dtypes must match .* x float64 \(1, 1, 4, 4\), w float32 \(1, 1, 3, 3\)"),
    (lambda: F.conv2d(tensor(np.ones((1, 1, 4, 4), np.int64)), tensor(np.ones((1, 1, 3, 3), np.int64))),
     TypeError, r"x must be a floating-point array, got dtype int64"),
]


@pytest.mark.parametrize("call,error,match", CONV_ERRORS)
def test_conv2d_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_linear_errors():
    with pytest.raises(ValueError, match=r"input of shape \(4, 3\) does not fit weight of shape \(2, 5\)"):
        F.linear(t(4, 3), t(2, 5))
    with pytest.raises(ValueError, match=r"2-D weight w .* shape \(2,\)"):
        F.linear(t(4, 2), t(2))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\) .* got b of shape \(3,\)"):
        F.linear(t(4, 3), t(2, 3), t(3))
    with pytest.raises(TypeError, match=r"dtypes must match"):
        F.linear(t(4, 3), t(2, 3, dtype=np.float32))


# -- pooling ------------------------------------------------------------------------------------

@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d, F.min_pool2d])
def test_pool_errors(pool):
    name = pool.__name__
    with pytest.raises(ValueError, match=rf"{name} expects a 4-D input x .* shape \(4, 4\)"):
        pool(t(4, 4), 2)
    with pytest.raises(ValueError, match=r"kernel 5x5 is larger than the padded input 4x4 \(x shape \(1, 1, 4, 4\)"):
        pool(t(1, 1, 4, 4), 5)
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half the kernel size \(3, 3\)"):
        pool(t(1, 1, 8, 8), 3, padding=2)
    with pytest.raises(ValueError, match=r"padding must be non-negative"):
        pool(t(1, 1, 8, 8), 3, padding=-1)
    with pytest.raises(ValueError, match=r"stride must be positive"):
        pool(t(1, 1, 8, 8), 2, stride=0)
    with pytest.raises(ValueError, match=r"kernel_size must be positive"):
        pool(t(1, 1, 8, 8), 0)


# -- class losses -------------------------------------------------------------------------------

@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss, F.hinge_loss])
def test_class_label_out_of_range(loss):
    name = loss.__name__
    with pytest.raises(ValueError, match=rf"{name}: class label 3 is out of range \[0, 3\) for input of shape \(2, 3\)"):
        loss(t(2, 3), labels(0, 3))
    with pytest.raises(ValueError, match=r"class label -1 is out of range \[0, 3\)"):
        loss(t(2, 3), labels(-1, 0))
    with pytest.raises(ValueError, match=r"target of shape \(3,\) does not fit input of shape \(2, 3\)"):
        loss(t(2, 3), labels(0, 1, 2))
    with pytest.raises(TypeError, match=r"target must hold integer class labels, got dtype float64"):
        loss(t(2, 3), t(2))
    with pytest.raises(ValueError, match=r"reduction must be one of .* got 'avg'"):
        loss(t(2, 3), labels(0, 1), reduction="avg")


# -- elementwise losses -------------------------------------------------------------------------

@pytest.mark.parametrize("loss", [F.mse_loss, F.l1_loss, F.binary_cross_entropy,
                                  F.binary_cross_entropy_with_logits])
def test_elementwise_loss_shape_and_dtype(loss):
    with pytest.raises(ValueError, match=r"input of shape \(2, 3\) and target of shape \(3,\) must have the same shape"):
        loss(t(2, 3), t(3))
    with pytest.raises(TypeError, match=r"dtypes must match"):
        loss(t(2, 3), t(2, 3, dtype=np.float32))


def test_binary_cross_entropy_needs_probabilities():
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\] \(input shape \(2,\)\)"):
        F.binary_cross_entropy(tensor(np.array([0.5, 1.5])), tensor(np.array([1.0, 0.0])))


# -- activations, normalisation, dropout --------------------------------------------------------

def test_activation_errors():
    with pytest.raises(ValueError, match=r"softmax: dim 2 is out of range for an input with 2 dimensions"):
        F.softmax(t(2, 3), dim=2)
    with pytest.raises(ValueError, match=r"log_softmax: dim -3 is out of range"):
        F.log_softmax(t(2, 3), dim=-3)
    with pytest.raises(ValueError, match=r"size 5 of dim 1 \(x shape \(2, 5\)\) is not divisible by pool_size 2"):
        F.maxout(t(2, 5), 2)
    with pytest.raises(ValueError, match=r"pool_size must be a positive int"):
        F.maxout(t(2, 4), 0)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\) for x of shape \(4, 3\), got \(2,\)"):
        F.batch_norm(t(4, 3), np.zeros(2), np.ones(3))
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\) .* got \(4,\)"):
        F.batch_norm(t(4, 3), np.zeros(3), np.ones(3), weight=t(4))
    with pytest.raises(ValueError, match=r"more than 1 value per channel, got x of shape \(1, 3\)"):
        F.batch_norm(t(1, 3), np.zeros(3), np.ones(3), training=True)
    with pytest.raises(ValueError, match=r"inference \(training=False\) needs running_mean"):
        F.batch_norm(t(4, 3), None, None)
    with pytest.raises(ValueError, match=r"x of shape \(N,C\).* got x of shape \(3,\)"):
        F.batch_norm(t(3), np.zeros(3), np.ones(3))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_probability(p):
    with pytest.raises(ValueError, match=rf"p must be a probability in \[0, 1\], got {p}"):
        F.dropout(t(2, 2), p)
