"""Small examples computed by hand (several from the course slides)."""
import math

import numpy as np
import pytest

import pyconv.nn.functional as F
from pyconv import backends
from pyconv.tensor import tensor

CPU_BACKENDS = [name for name, status in backends.available_backends().items()
                if status == "enabled" and backends.module(name).DEVICE == "cpu"]

IMAGE = [[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]
KERNEL = [[1, 0, 1], [0, 1, 0], [1, 0, 1]]
POOL_IN = [[1, 2, 0, 2], [1, 4, 2, 0], [4, 3, 1, 0], [1, 2, 2, 1]]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    with backends.backend(request.param):
        yield request.param


def plane(rows, dtype=np.float64, requires_grad=False):
    return tensor(np.array(rows, dtype=dtype)[None, None], requires_grad=requires_grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slide_convolution(backend, dtype):
    y = F.conv2d(plane(IMAGE, dtype), plane(KERNEL, dtype))
    np.testing.assert_array_equal(y.data[0, 0], [[4, 3, 4], [2, 4, 3], [2, 3, 4]])


def test_slide_convolution_stride_padding_and_gradients(backend):
    x, w = plane(IMAGE, requires_grad=True), plane(KERNEL, requires_grad=True)
    np.testing.assert_array_equal(F.conv2d(x, w, stride=2).data[0, 0], [[4, 4], [2, 4]])
    # padding 1: corner (0,0) sees x[0,0] (centre) and x[1,1] (bottom-right corner) -> 2
    assert F.conv2d(x, w, padding=1).data[0, 0, 0, 0] == 2
    y = F.conv2d(x, w, bias=tensor(np.array([10.0]), requires_grad=True))
    np.testing.assert_array_equal(y.data[0, 0], [[14, 13, 14], [12, 14, 13], [12, 13, 14]])
    y.backward(np.ones((1, 1, 3, 3)))
    # dw[r,s] = sum of the 3x3 block of the image starting at (r, s)
    np.testing.assert_array_equal(w.grad.data[0, 0], [[6, 7, 6], [4, 7, 7], [4, 6, 6]])
    # dx[h,v] = number of kernel ones that land on (h, v) over the 9 windows: kernel row
    # (1,0,1) contributes (1,1,2,1,1) along a row, kernel row (0,1,0) contributes (0,1,1,1,0)
    np.testing.assert_array_equal(x.grad.data[0, 0], [[1, 1, 2, 1, 1], [1, 2, 3, 2, 1], [2, 3, 5, 3, 2],
                                                      [1, 2, 3, 2, 1], [1, 1, 2, 1, 1]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_slide_pooling(backend, dtype):
    x = plane(POOL_IN, dtype)
    np.testing.assert_array_equal(F.max_pool2d(x, 2).data[0, 0], [[4, 2], [4, 2]])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).data[0, 0], [[2, 1], [2.5, 1]])
    np.testing.assert_array_equal(F.min_pool2d(x, 2).data[0, 0], [[1, 0], [1, 0]])


def test_slide_max_pooling_gradient_picks_first_maximum_at_ties(backend):
    x = plane(POOL_IN, requires_grad=True)
    F.max_pool2d(x, 2).backward(np.ones((1, 1, 2, 2)))
    # the top-right window holds two 2s, at (0,3) and (1,2): the first in row-major order wins
    np.testing.assert_array_equal(x.grad.data[0, 0], [[0, 0, 0, 1], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]])
    x.grad = None
    F.avg_pool2d(x, 2).backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(x.grad.data, np.full((1, 1, 4, 4), 0.25))


def test_linear(backend):
    x = tensor(np.array([[1.0, 2.0]]))
    w = tensor(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_array_equal(F.linear(x, w, tensor(np.array([0.0, 0.0, 1.0]))).data, [[1, 2, 4]])


def test_activations():
    x = tensor(np.array([-2.0, 0.0, math.log(0.5) + 0.0, 3.0]))
    np.testing.assert_allclose(F.relu(x).data, [0, 0, 0, 3])
    np.testing.assert_allclose(F.leaky_relu(x).data, [-0.02, 0, 0.01 * math.log(0.5), 3])
    np.testing.assert_allclose(F.elu(tensor(np.array([math.log(0.5), 2.0]))).data, [-0.5, 2])
    np.testing.assert_allclose(F.sigmoid(tensor(np.array([0.0, math.log(3)]))).data, [0.5, 0.75])
    np.testing.assert_allclose(F.tanh(tensor(np.array([0.0, math.log(2)]))).data, [0, 0.6])
    np.testing.assert_allclose(F.softmax(tensor(np.array([0.0, math.log(3)]))).data, [0.25, 0.75])
    np.testing.assert_allclose(F.log_softmax(tensor(np.array([0.0, math.log(3)]))).data,
                               [math.log(0.25), math.log(0.75)])


def test_losses():
    np.testing.assert_allclose(F.cross_entropy(tensor(np.zeros((2, 4))), tensor(np.array([1, 3]))).data,
                               math.log(4))
    np.testing.assert_allclose(F.nll_loss(tensor(np.array([[-1.0, -2.0], [-3.0, -4.0]])),
                                          tensor(np.array([1, 0]))).data, 2.5)
    np.testing.assert_allclose(F.mse_loss(tensor(np.array([1.0, 2.0])), tensor(np.array([0.0, 4.0]))).data, 2.5)
    np.testing.assert_allclose(F.l1_loss(tensor(np.array([1.0, 2.0])), tensor(np.array([0.0, 4.0]))).data, 1.5)
    np.testing.assert_allclose(F.binary_cross_entropy(tensor(np.array([0.5])), tensor(np.array([1.0]))).data,
                               math.log(2))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(tensor(np.array([0.0])),
                                                                  tensor(np.array([1.0]))).data, math.log(2))


def test_hinge_loss_cs231n_example():
    # cat/car/frog scores of three images, true classes cat, car, frog: losses 2.9, 0, 12.9
    scores = tensor(np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]]))
    labels = tensor(np.array([0, 1, 2]))
    np.testing.assert_allclose(F.hinge_loss(scores, labels, reduction="none").data, [2.9, 0, 12.9])
    np.testing.assert_allclose(F.hinge_loss(scores, labels).data, 15.8 / 3)


def test_batch_norm_and_maxout():
    y = F.batch_norm(tensor(np.array([[1.0], [3.0]])), None, None, training=True, eps=0.0)
    np.testing.assert_allclose(y.data, [[-1], [1]])
    np.testing.assert_array_equal(F.maxout(tensor(np.array([[1.0, -4.0, 0.5, 2.0]])), 2).data, [[1, 2]])
