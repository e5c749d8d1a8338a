"""The C backend: NaN/Inf, bit-reproducibility across thread counts, odd inputs and errors.

Every kernel step against the numpy reference on the conformance cases is in
test_kernel_ladder.py; this file holds what is particular to the C backend."""
import numpy as np
import pytest

from pyconv.backends import numpy_ref as ref

c = pytest.importorskip("pyconv.backends.c_omp")
ok, why = c.available()
if not ok:
    pytest.skip(f"C backend not built: {why}", allow_module_level=True)

TOL = {np.float32: 1e-4, np.float64: 1e-10}
DTYPES = [np.float32, np.float64]

def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def close(got, want, dtype):
    assert got.dtype == want.dtype and got.shape == want.shape and got.flags.c_contiguous
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * scale)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")   # inf * 0 in numpy_ref, on purpose
def test_nan_and_inf_propagate_like_the_reference():
    rng = np.random.default_rng(6)
    x, w = rand(rng, (1, 2, 6, 6), np.float64), rand(rng, (3, 2, 3, 3), np.float64)
    x[0, 1, 2, 3], x[0, 0, 5, 5], w[2, 0, 1, 1] = np.nan, np.inf, np.inf
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    y, y_ref = c.conv2d_forward(x, w, None, *args), ref.conv2d_forward(x, w, None, *args)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(y_ref))
    dy = rand(rng, y.shape, np.float64)
    dx, dx_ref = c.conv2d_backward_input(dy, w, x.shape, *args), ref.conv2d_backward_input(dy, w, x.shape, *args)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(dx_ref))
    x, w = rand(rng, (1, 16, 5, 5), np.float64), rand(rng, (2, 16, 3, 3), np.float64)
    w[1, 3, 0, 2] = np.inf                  # backward input must not turn padding into 0 * inf
    dy = rand(rng, (1, 2, 5, 5), np.float64)
    dx, dx_ref = c.conv2d_backward_input(dy, w, x.shape, *args), ref.conv2d_backward_input(dy, w, x.shape, *args)
    np.testing.assert_array_equal(np.isnan(dx), np.isnan(dx_ref))
    np.testing.assert_array_equal(np.isinf(dx), np.isinf(dx_ref))
    x, w = rand(rng, (2, 3, 6, 7), np.float64), rand(rng, (4, 3, 3, 3), np.float64)
    x[1, 2, 0, 0], x[0, 1, 5, 3] = np.inf, np.nan   # small K*C: the dot-product backward weight
    dy = rand(rng, (2, 4, 6, 7), np.float64)
    dw, dw_ref = c.conv2d_backward_weight(dy, x, w.shape, *args), ref.conv2d_backward_weight(dy, x, w.shape, *args)
    np.testing.assert_array_equal(np.isnan(dw), np.isnan(dw_ref))
    np.testing.assert_array_equal(np.isinf(dw), np.isinf(dw_ref))
    a = np.ones((1, 2, 2))
    a[0, 0, 1] = np.inf
    out = c.matmul(a, np.array([[[1.0], [0.0]]]))
    np.testing.assert_array_equal(out, ref.matmul(a, np.array([[[1.0], [0.0]]])))


def test_bitwise_identical_for_any_thread_count():
    rng = np.random.default_rng(7)
    x, w, b = rand(rng, (3, 16, 20, 19), np.float32), rand(rng, (40, 16, 3, 3), np.float32), rand(rng, (40,), np.float32)
    args = ((1, 2), (1, 1, 1, 0), (1, 1))
    a, bb = rand(rng, (2, 150, 300), np.float32), rand(rng, (2, 300, 170), np.float32)
    before = c.get_num_threads()

    def run():
        y = c.conv2d_forward(x, w, b, *args)
        dy = rand(np.random.default_rng(8), y.shape, np.float32)
        pool = c.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))
        return [y, c.conv2d_backward_input(dy, w, x.shape, *args), c.conv2d_backward_weight(dy, x, w.shape, *args),
                c.conv2d_backward_bias(dy), c.matmul(a, bb), c.matmul_backward_a(a @ bb, bb),
                c.matmul_backward_b(a, a @ bb), *pool, c.max_pool2d_backward(pool[0], pool[1], x.shape),
                c.avg_pool2d_backward(pool[0], x.shape, (3, 3), (2, 2), (1, 1))]
    try:
        c.set_num_threads(1)
        assert c.get_num_threads() == 1
        one = run()
        for n in (2, 3):
            c.set_num_threads(n)
            for got, want in zip(run(), one):
                assert got.tobytes() == want.tobytes()
        x1 = x[:1]                   # a single image: backward input splits channels across threads
        dy1 = rand(rng, (1, 40, 20, 9), np.float32)
        same = ((1, 1), (1, 1, 1, 1), (1, 1))   # unit stride: the padded-image kernels
        dy2 = rand(rng, (1, 40, 20, 19), np.float32)

        small_w = w[:4, :8]                      # K*C = 32: the dot-product backward weight
        dy3 = rand(rng, (3, 4, 20, 19), np.float32)

        def single_image():
            return [c.conv2d_backward_input(dy1, w, x1.shape, *args), c.conv2d_forward(x1, w, b, *same),
                    c.conv2d_backward_input(dy2, w, x1.shape, *same), c.conv2d_forward(x1, w, b, *args),
                    c.conv2d_backward_weight(dy3, x[:, :8], small_w.shape, *same)]
        c.set_num_threads(1)
        single = single_image()
        c.set_num_threads(2)
        for got, want in zip(single_image(), single):
            assert got.tobytes() == want.tobytes()
    finally:
        c.set_num_threads(0)
    assert c.get_num_threads() == before


def test_non_contiguous_inputs_are_copied():
    rng = np.random.default_rng(9)
    x = rand(rng, (2, 3, 8, 10), np.float64)[:, :, :, ::2]
    w = rand(rng, (4, 3, 2, 2), np.float64)[:, :, ::-1]
    args = ((1, 1), (0, 0, 0, 0), (1, 1))
    close(c.conv2d_forward(x, w, None, *args), ref.conv2d_forward(x, w, None, *args), np.float64)
    a = rand(rng, (2, 5, 7), np.float64).transpose(0, 2, 1)
    b = rand(rng, (2, 3, 5), np.float64).transpose(0, 2, 1)
    close(c.matmul(a, b), ref.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b)), np.float64)


def test_bad_inputs_raise():
    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    args = ((1, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(TypeError):
        c.conv2d_forward(x.astype(np.float64), w, None, *args)          # mixed dtypes
    with pytest.raises(TypeError):
        c.conv2d_forward(x.astype(np.int32), w.astype(np.int32), None, *args)
    with pytest.raises(TypeError):
        c.conv2d_forward(x.tolist(), w, None, *args)
    with pytest.raises(ValueError):
        c.conv2d_forward(x[0], w, None, *args)                           # rank
    with pytest.raises(ValueError):
        c.conv2d_forward(x, w[:, :1], None, *args)                       # channels
    with pytest.raises(ValueError):
        c.conv2d_forward(x, w, np.zeros(2, np.float32), *args)           # bias length
    with pytest.raises(ValueError):
        c.conv2d_forward(x, w, None, (0, 1), (0, 0, 0, 0), (1, 1))       # stride 0
    with pytest.raises(ValueError):
        c.conv2d_forward(x, w, None, (1, 1), (0, -1, 0, 0), (1, 1))      # negative padding
    with pytest.raises(ValueError):
        c.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), (3, 3))       # kernel larger than input
    with pytest.raises(ValueError):
        c.conv2d_backward_input(np.zeros((1, 3, 2, 2), np.float32), w, x.shape, *args)
    with pytest.raises(ValueError):
        c.matmul(np.zeros((1, 2, 3)), np.zeros((1, 4, 5)))
    with pytest.raises(ValueError):
        c.max_pool2d_forward(x, (2, 2), (2, 2), (2, 2))                  # padding > kernel/2
    y, idx = c.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    idx[0, 0, 0, 0] = 10**6
    with pytest.raises(ValueError):
        c.max_pool2d_backward(y, idx, x.shape)
    with pytest.raises(TypeError):
        c.max_pool2d_backward(y, idx.astype(np.int32), x.shape)
    with pytest.raises(MemoryError):                                      # element count overflows
        c.conv2d_backward_input(np.zeros((1, 3, 3, 3), np.float32), w, (2**40, 2, 2**20, 5), *args)


def test_empty_batch_and_zero_filters():
    x = np.zeros((0, 2, 5, 5))
    w = np.ones((3, 2, 3, 3))
    y = c.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1))
    assert y.shape == (0, 3, 3, 3)
    dw = c.conv2d_backward_weight(np.zeros((0, 3, 3, 3)), x, w.shape, (1, 1), (0, 0, 0, 0), (1, 1))
    np.testing.assert_array_equal(dw, np.zeros(w.shape))
    assert c.matmul(np.zeros((2, 3, 0)), np.zeros((2, 0, 4))).tolist() == np.zeros((2, 3, 4)).tolist()


def test_module_attributes():
    assert c.NAME == "c" and c.DEVICE == "cpu" and c.xp is np
    assert isinstance(c.openmp_enabled(), bool)
    assert "gemm tile" in c.build_info()
