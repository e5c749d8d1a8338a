"""The C backend under absurd input: sizes checked before use, odd geometry computed without a
workspace sized by it, misaligned buffers, thread counts, and fork.

Cases that used to crash or hang the process run in a child process with a timeout, so a
regression fails this file instead of killing or stalling the test run.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pyconv.backends import numpy_ref as ref

c = pytest.importorskip("pyconv.backends.c_omp")
ok, why = c.available()
if not ok:
    pytest.skip(f"C backend not built: {why}", allow_module_level=True)

DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-4, np.float64: 1e-10}
BIG = 2 ** 40


def run_child(code, timeout=120):
    """Run `code` in a fresh interpreter; returns (exit code, output). A hang fails the test."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, OMP_NUM_THREADS="2"))
    return proc.returncode, proc.stdout + proc.stderr


def conv_all(mod, x, w, dy, args):
    """forward, backward input, backward weight of one backend module."""
    return (mod.conv2d_forward(x, w, None, *args), mod.conv2d_backward_input(dy, w, x.shape, *args),
            mod.conv2d_backward_weight(dy, x, w.shape, *args))


# -- sizes: odd geometry that still describes a small output --------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [(1, BIG), (BIG, BIG), (3, 2 ** 62 // 4)])
def test_huge_stride_over_a_small_image(dtype, stride):
    """Stride 2**40 over a 1x300 row: output 1x1. The fast path's stride-phase copy used to be
    sized by the stride (a MemoryError, or an int64 overflow into a heap overflow)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 300)).astype(dtype)
    w = rng.standard_normal((4, 3, 2, 3)).astype(dtype)
    args = (stride, (0, 0, 0, 0), (1, 1))
    y = ref.conv2d_forward(x, w, None, *args)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(conv_all(c, x, w, dy, args), conv_all(ref, x, w, dy, args)):
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * 10)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huge_padding_and_stride(dtype):
    """Padding 2**40 on both sides with stride 2**40: three output columns, of which only the
    middle one meets the image. The numpy reference cannot pad that far, so the expected values
    come from the unpadded convolution of the first columns."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5, 300)).astype(dtype)
    w = rng.standard_normal((2, 3, 2, 3)).astype(dtype)
    args = ((1, BIG), (0, 0, BIG, BIG), (1, 1))
    y = c.conv2d_forward(x, w, None, *args)
    middle = ref.conv2d_forward(x[..., :3], w, None, (1, 1), (0, 0, 0, 0), (1, 1))
    assert y.shape == (2, 2, 4, 3)
    np.testing.assert_allclose(y[..., 1:2], middle, rtol=0, atol=TOL[dtype] * 10)
    assert not y[..., 0].any() and not y[..., 2].any()
    dy = np.zeros_like(y)
    dy[..., 1] = 1
    dx = c.conv2d_backward_input(dy, w, x.shape, *args)
    dx_small = ref.conv2d_backward_input(dy[..., 1:2], w, (2, 3, 5, 3), (1, 1), (0, 0, 0, 0), (1, 1))
    np.testing.assert_allclose(dx[..., :3], dx_small, rtol=0, atol=TOL[dtype] * 10)
    assert not dx[..., 3:].any()
    dw = c.conv2d_backward_weight(dy, x, w.shape, *args)
    dw_small = ref.conv2d_backward_weight(dy[..., 1:2], x[..., :3], w.shape, (1, 1), (0, 0, 0, 0), (1, 1))
    np.testing.assert_allclose(dw, dw_small, rtol=0, atol=TOL[dtype] * 100)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mostly_padding_takes_the_direct_loops(dtype):
    """A 3x3 image padded by 700 with stride 700: the padded copy the fast paths build (2M
    elements per channel) dwarfs the data; the direct loops give the reference's values."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 3, 3)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 2)).astype(dtype)
    args = ((700, 700), (700, 700, 700, 699), (1, 350))
    y = ref.conv2d_forward(x, w, None, *args)
    dy = rng.standard_normal(y.shape).astype(dtype)
    for got, want in zip(conv_all(c, x, w, dy, args), conv_all(ref, x, w, dy, args)):
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * 10)


def test_extent_past_int64_is_a_value_error():
    """Stride and padding 2**62: the padded extent overflows int64. Used to hang the process."""
    code, out = run_child("""
        import numpy as np
        from pyconv.backends import c_omp as c
        x, w = np.ones((1, 1, 3, 3)), np.ones((1, 1, 1, 1))
        try:
            c.conv2d_forward(x, w, None, (2**62, 2**62), (2**62,) * 4, (1, 1))
        except ValueError as e:
            print("ValueError", e)
    """, timeout=60)
    assert code == 0 and "ValueError" in out and "2**62" in out, out


def test_c_entry_points_check_their_sizes():
    """The C functions themselves refuse counts that overflow, whatever the Python side passed:
    every step returns PC_EINVAL before touching the (here NULL) buffers."""
    ffi, lib = c.ffi, c.lib
    null = ffi.NULL

    def steps(name):
        return range(0, lib.pc_kernel_steps(name.encode()) + 1)     # 0: the default
    huge = dict(N=2 ** 40, C=2 ** 40, H=1, W=1, K=1, R=1, S=1, P=1, Q=1, sh=1, sw=1, pt=0, pl=0, dh=1, dw=1)
    for step in steps("conv2d_forward"):
        for fn in (lib.pc_conv2d_forward_f64, lib.pc_conv2d_forward_f32):
            assert fn(ffi.new("pc_conv_shape *", huge), null, null, null, null, step, null) == lib.PC_EINVAL
    wide = dict(huge, N=1, C=1, W=3, Q=2, sw=2 ** 62, S=1)
    for step in steps("conv2d_backward_input"):
        assert lib.pc_conv2d_backward_input_f32(ffi.new("pc_conv_shape *", wide), null, null, null, step,
                                                null) == lib.PC_EINVAL
    negative = dict(huge, N=1, C=1, pt=-1)
    for step in steps("conv2d_backward_weight"):
        assert lib.pc_conv2d_backward_weight_f64(ffi.new("pc_conv_shape *", negative), null, null, null, step,
                                                 null) == lib.PC_EINVAL
    assert lib.pc_conv2d_backward_bias_f32(ffi.new("pc_conv_shape *", dict(huge, K=2 ** 40)), null, null) == lib.PC_EINVAL
    pool = ffi.new("pc_pool_shape *", dict(N=2 ** 31, C=2 ** 31, H=2, W=2, R=2, S=2, P=1, Q=1, sh=1, sw=1,
                                           ph=0, pw=0))
    for step in steps("max_pool2d_forward"):
        assert lib.pc_max_pool2d_forward_f32(pool, null, null, null, step, null) == lib.PC_EINVAL
    for step in steps("avg_pool2d_forward"):
        assert lib.pc_avg_pool2d_forward_f64(pool, null, null, step, null) == lib.PC_EINVAL
    assert lib.pc_avg_pool2d_backward_f64(pool, null, null) == lib.PC_EINVAL
    assert lib.pc_index_pool2d_backward_f64(pool, null, null, null) == lib.PC_EINVAL
    for step in steps("matmul"):
        assert lib.pc_matmul_f32(2 ** 21, 2 ** 21, 2 ** 21, 1, null, 1, 1, null, 1, 1, null, step, null) == lib.PC_EINVAL
        # strides that would leave the (M, K) block of a
        assert lib.pc_matmul_f64(1, 2, 2, 2, null, 3, 1, null, 2, 1, null, step, null) == lib.PC_EINVAL


def test_c_entry_points_refuse_a_step_that_does_not_exist():
    ffi, lib = c.ffi, c.lib
    ran = ffi.new("int *", 99)
    a = np.ones((1, 2, 2), np.float32)
    out = np.empty((1, 2, 2), np.float32)
    ptr = ffi.from_buffer("float[]", a)
    for step in (-1, lib.pc_kernel_steps(b"matmul") + 1):
        assert lib.pc_matmul_f32(1, 2, 2, 2, ptr, 2, 1, ptr, 2, 1, ffi.from_buffer("float[]", out), step,
                                 ran) == lib.PC_EINVAL
        assert ran[0] == 0
    assert lib.pc_kernel_steps(b"no_such_primitive") == 0
    assert lib.pc_kernel_step_doc(b"matmul", 0) == ffi.NULL


@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_with_a_huge_window_is_quick(dtype):
    """avg_pool2d of a 1x1 image with a 2**20 window and padding 2**19: four windows, each
    holding the one pixel. It used to loop over all 2**40 window cells (minutes)."""
    code, out = run_child(f"""
        import numpy as np
        from pyconv.backends import c_omp as c
        x = np.array([[[[3.0]]]], dtype=np.{np.dtype(dtype).name})
        k, p = (2**20, 2**20), (2**19, 2**19)
        y = c.avg_pool2d_forward(x, k, (1, 1), p)
        assert y.shape == (1, 1, 2, 2) and np.all(y == x.dtype.type(3.0) / x.dtype.type(2**40)), y
        dx = c.avg_pool2d_backward(np.ones_like(y), x.shape, k, (1, 1), p)
        assert dx.shape == x.shape and dx[0, 0, 0, 0] == 4 / x.dtype.type(2**40), dx
        m, idx = c.max_pool2d_forward(x, k, (1, 1), p)
        assert np.all(m == 3.0) and np.all(idx == 0)
        print("done")
    """, timeout=60)
    assert code == 0 and "done" in out, out


# -- alignment --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
def test_misaligned_buffers_give_the_same_results(dtype):
    """Arrays at an odd address (np.frombuffer(..., offset=1)) are copied to aligned memory
    before the C code reads them as float/double; the sanitizer run of this file checks that
    nothing misaligned reaches the kernels."""
    rng = np.random.default_rng(3)

    def odd(a):
        raw = np.zeros(a.nbytes + 1, np.uint8)
        view = np.frombuffer(raw, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
        view[...] = a
        assert not view.flags.aligned
        return view

    x = rng.standard_normal((2, 3, 9, 8)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    dy = rng.standard_normal((2, 4, 9, 8)).astype(dtype)
    for got, want in zip(conv_all(c, odd(x), odd(w), odd(dy), args), conv_all(c, x, w, dy, args)):
        np.testing.assert_array_equal(got, want)
    a, b = rng.standard_normal((2, 13, 17)).astype(dtype), rng.standard_normal((2, 17, 9)).astype(dtype)
    np.testing.assert_array_equal(c.matmul(odd(a), odd(b)), c.matmul(a, b))
    y, idx = c.max_pool2d_forward(odd(x), (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y, c.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))[0])
    np.testing.assert_array_equal(c.avg_pool2d_forward(odd(x), (3, 3), (1, 1), (1, 1)),
                                  c.avg_pool2d_forward(x, (3, 3), (1, 1), (1, 1)))


# -- threads and fork -------------------------------------------------------------------------------

def test_absurd_thread_count_is_a_value_error():
    """set_num_threads(100000) used to crash the process (the OpenMP runtime aborts when it
    cannot create the threads)."""
    code, out = run_child("""
        import numpy as np
        from pyconv.backends import c_omp as c
        try:
            c.set_num_threads(100000)
        except ValueError as e:
            print("ValueError", e)
        c.set_num_threads(c.max_threads())
        c.set_num_threads(0)
        x = np.ones((1, 1, 4, 4))
        print(c.conv2d_forward(x, x[:, :, :3, :3].copy(), None, (1, 1), (0, 0, 0, 0), (1, 1)).shape)
    """, timeout=60)
    assert code == 0 and "ValueError" in out and "(1, 1, 2, 2)" in out, out


FORK_CHILD = """
    import multiprocessing as mp, threading, time
    import numpy as np
    from pyconv.backends import c_omp as c

    def work(seed):
        rng = np.random.default_rng(seed)
        x, w = rng.standard_normal((4, 3, 16, 16)), rng.standard_normal((8, 3, 3, 3))
        return float(c.conv2d_forward(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1)).sum())

    if __name__ == "__main__":
        c.set_num_threads(2)
        want = [work(i) for i in range(4)]          # the parent's kernels ran in parallel
        ctx = mp.get_context("fork")
        with ctx.Pool(2) as pool:
            assert pool.map_async(work, range(4)).get(timeout=60) == want
        busy = True
        def spin():                                  # another thread inside a kernel at fork
            while busy:
                work(0)
        t = threading.Thread(target=spin)
        t.start()
        time.sleep(0.2)
        with ctx.Pool(2) as pool:
            assert pool.map_async(work, range(4)).get(timeout=60) == want
        busy = False
        t.join()
        print("done")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_forked_children_run_kernels(tmp_path):
    """A fork Pool after the parent's kernels ran on 2 threads, then again while another thread
    of the parent is inside a kernel (holding the call lock) at fork time. Both used to hang
    forever in the child's first kernel call."""
    script = tmp_path / "fork_child.py"
    script.write_text(textwrap.dedent(FORK_CHILD))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stdout + proc.stderr
