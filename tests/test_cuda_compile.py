"""The CUDA sources compile, and the CUDA backend's pure-Python parts, on any machine.

* nvcc (when on PATH) compiles every csrc/cuda/*.cu, as pasted together by the wrapper, to a
  cubin (PTX and ptxas, as the driver would) for sm_75 (Turing, the oldest GPU pyconv supports),
  sm_80 and sm_90, in both dtypes: CI catches compile errors, and architecture-specific ones
  (TF32 below sm_80), without a GPU. ptxas -v's report is checked: registers within the
  __launch_bounds__ promise, static shared memory under 48 KB, and spills no worse than
  KNOWN_SPILLS. sm_90 runs by default (~30 s on one core); sm_75 and sm_80 (~40 s more) are
  marked slow.
* NVRTC (when libnvrtc can be loaded, e.g. from the nvidia-cuda-nvrtc-cu12 wheel) compiles the
  same text the way CuPy's RawModule will, which also proves no host-only header sneaked in.
* Launch-configuration helpers, the variant tables and their choice (the steps of
  pyconv.kernels), kernel names and availability reporting.
"""
import ctypes
import ctypes.util
import glob
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

import pyconv.kernels
from pyconv.backends import cuda_cupy as cu
from pyconv.backends import geometry

DTYPES = [np.float32, np.float64]


# -- nvcc and ptxas ----------------------------------------------------------------------------

ARCHS = [pytest.param(90, id="sm_90"),
         pytest.param(80, id="sm_80", marks=pytest.mark.slow),
         pytest.param(75, id="sm_75", marks=pytest.mark.slow)]

# Spill bytes (stores, loads) that ptxas reports today, by (arch, dtype, kernel); any other
# kernel must not spill, and none of these may spill more (common.cuh says the same where
# GEMM_MIN_BLOCKS is set). Both are gemm_core_shared's float32 conv kernels on sm_90, at the
# 128-register cap of __launch_bounds__(256, 2): the same code fits in 128 registers for sm_75
# and sm_80. Before the coalesced loader mappings (common.cuh, tile_slot) they were 8/12
# (forward_2, now none), 16/16 and 12/12 bytes; the SASS then put 2-4 L1-resident local
# accesses per k-step in the loop, against 512 FMAs per thread.
KNOWN_SPILLS = {
    (90, "float32", "conv2d_backward_input_2"): (8, 8),
    (90, "float32", "conv2d_backward_weight_3"): (4, 4),
}
TILED_FLOAT_MAX_REGISTERS = 128      # 65536 / (256 threads * GEMM_MIN_BLOCKS 2)
STATIC_SHARED_LIMIT = 48 * 1024


def _ptxas_report(stderr):
    """{kernel: {"registers", "smem", "spill_stores", "spill_loads"}} from nvcc -Xptxas -v."""
    report, name, props = {}, None, None
    for line in stderr.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            name = props = m.group(1)
            report[name] = {"registers": 0, "smem": 0, "spill_stores": 0, "spill_loads": 0}
            continue
        m = re.search(r"Function properties for (\w+)", line)
        if m:   # a non-inlined device function's properties follow its caller's: not the kernel's
            props = m.group(1)
            continue
        if name is None or props != name:
            continue
        m = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            report[name]["spill_stores"], report[name]["spill_loads"] = map(int, m.groups())
        m = re.search(r"Used (\d+) registers", line)
        if m:
            report[name]["registers"] = int(m.group(1))
            m = re.search(r"(\d+) bytes smem", line)
            report[name]["smem"] = int(m.group(1)) if m else 0
    return report


def _is_tiled(name):
    """A kernel on one of the GEMM cores (cu.GEMM_VARIANTS), 128- or 64-row tiles."""
    primitive, _, v = name.rpartition("_")
    return primitive in cu.GEMM_VARIANTS and v.isdigit() and int(v) in cu.GEMM_VARIANTS[primitive].values()


def _nvcc_report(src, dtype, arch, tmp_path, *flags):
    """ptxas's report (_ptxas_report) of `nvcc -cubin` on the file src, compiled cleanly."""
    cmd = ["nvcc", "-cubin", f"-arch=sm_{arch}", "--std=c++14", "-Xptxas", "-v", *flags,
           *cu.compile_options(dtype)[1:], str(src), "-o", str(tmp_path / "out.cubin")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{' '.join(cmd)}\n{run.stderr}"
    assert "warning" not in run.stderr.lower(), run.stderr
    return _ptxas_report(run.stderr)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("file", cu.SOURCES)
def test_nvcc_builds_a_cubin_within_its_resources(file, dtype, arch, tmp_path):
    src = tmp_path / file
    src.write_text(cu.read_source(file))
    report = _nvcc_report(src, dtype, arch, tmp_path)
    assert set(report) == cu.kernel_names_in_source(file), "ptxas compiled other kernels"
    dt = np.dtype(dtype).name
    for name, r in report.items():
        where = f"{name} (sm_{arch}, {dt}): {r}"
        assert r["smem"] <= STATIC_SHARED_LIMIT, where
        if _is_tiled(name) and dt == "float32":
            assert r["registers"] <= TILED_FLOAT_MAX_REGISTERS, where
        known = KNOWN_SPILLS.get((arch, dt, name), (0, 0))
        assert r["spill_stores"] <= known[0] and r["spill_loads"] <= known[1], (
            f"{where}: spills more than KNOWN_SPILLS {known}; keep the k-loop free of local "
            "memory (fewer live registers) or, if it cannot be helped, record it there")
    for (a, d, name) in KNOWN_SPILLS:
        if (a, d) == (arch, dt) and name in report:
            assert report[name]["spill_stores"] > 0, f"{name} no longer spills: drop it from KNOWN_SPILLS"


CORES64 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda_emu", "cores64.cu")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_nvcc_builds_the_64_row_instantiations_of_the_other_cores(tmp_path):
    """tests/cuda_emu/cores64.cu, gemm_core_shared and gemm_core_tf32 at 64 rows (no variant runs
    them; the emulated tests check their results), compiles for sm_90 in float32, the TF32
    build, within the tiled kernels' registers and shared memory and without spills."""
    report = _nvcc_report(CORES64, np.float32, 90, tmp_path, f"-I{cu.source_dir()}")
    with open(CORES64) as f:
        names = set(re.findall(r'extern "C" __global__ void __launch_bounds__\([^)]*\)\s+(\w+)', f.read()))
    assert len(names) == 4 and names <= set(report)
    for name in names:
        r = report[name]
        assert r["registers"] <= TILED_FLOAT_MAX_REGISTERS and r["smem"] <= STATIC_SHARED_LIMIT, (name, r)
        assert r["spill_stores"] == r["spill_loads"] == 0, (name, r)


# -- NVRTC ------------------------------------------------------------------------------------

def _nvrtc():
    candidates = []
    try:
        import nvidia.cuda_nvrtc as pkg
        for folder in pkg.__path__:
            candidates += sorted(glob.glob(os.path.join(folder, "lib", "libnvrtc.so*")))
    except ImportError:
        pass
    found = ctypes.util.find_library("nvrtc")
    if found:
        candidates.append(found)
    for path in candidates:
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


NVRTC = _nvrtc()


@pytest.mark.skipif(NVRTC is None, reason="libnvrtc is not installed")
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("file", cu.SOURCES)
def test_nvrtc_compiles(file, dtype):
    prog = ctypes.c_void_p()
    code = cu.read_source(file).encode()
    assert NVRTC.nvrtcCreateProgram(ctypes.byref(prog), code, file.encode(), 0, None, None) == 0
    options = [o.encode() for o in cu.compile_options(dtype) + ("-arch=compute_90",)]
    try:
        rc = NVRTC.nvrtcCompileProgram(prog, len(options), (ctypes.c_char_p * len(options))(*options))
        size = ctypes.c_size_t()
        NVRTC.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        NVRTC.nvrtcGetProgramLog(prog, log)
        assert rc == 0, log.value.decode()
        assert "warning" not in log.value.decode().lower(), log.value.decode()
    finally:
        NVRTC.nvrtcDestroyProgram(ctypes.byref(prog))


# -- pure Python ------------------------------------------------------------------------------

def test_sources_are_found_and_self_contained():
    assert cu.source_dir() is not None
    for file in cu.SOURCES:
        text = cu.read_source(file)
        assert "#include" not in text, f"{file}: NVRTC gets one text; only common.cuh is pasted in"


def test_every_variant_in_the_tables_exists_in_the_sources():
    assert set(cu.STEPS) == {f for families in cu.KERNELS.values() for f in families}
    for file, families in cu.KERNELS.items():
        names = cu.kernel_names_in_source(file)
        wanted = {f"{f}_{v}" for f in families for v in range(1, len(cu.STEPS[f]) + 1)}
        wanted |= set(cu.HELPER_KERNELS.get(file, ()))
        assert wanted == names, f"{file}: table and source disagree: {wanted ^ names}"


def test_kernel_steps_cover_the_contract_and_need_no_gpu():
    from pyconv.backends.contract import PRIMITIVES
    steps = cu.kernel_steps()
    assert tuple(steps) == PRIMITIVES
    assert steps["max_pool2d_backward"] == steps["min_pool2d_backward"] == cu.STEPS["pool2d_backward_argmax"]
    assert set(cu.DEFAULTS) == set(PRIMITIVES)
    for primitive, entries in steps.items():
        assert 1 <= cu.default_step(primitive) <= len(entries)
        assert all(isinstance(name, str) and isinstance(doc, str) and "\n" not in doc for name, doc in entries)
        file = next(f for f, families in cu.KERNELS.items() if cu.FAMILY.get(primitive, primitive) in families)
        assert cu.kernel_name(primitive, len(entries)) in cu.kernel_names_in_source(file)
    for primitive, cores in cu.GEMM_VARIANTS.items():
        assert list(cores) == list(cu.GEMM_CORES)
        assert [steps[primitive][v - 1][0] for v in cores.values()] == \
            ["gemm_shared", "gemm_async", "gemm_tf32", "gemm_async64"]
        assert list(cores.values()) == list(range(len(steps[primitive]) - 3, len(steps[primitive]) + 1))
        assert cores["async64"] == len(steps[primitive])               # the top of the ladder
        assert cu.TF32_VARIANT[primitive] == cores["tf32"]
    assert pyconv.kernels.available("conv2d_backward_weight", backend="cuda")[1].name == "block_reduce"


def test_kernels_use_chooses_and_restores_and_ran_reports():
    assert cu.variant("conv2d_forward") == cu.DEFAULTS["conv2d_forward"] == 2
    with pyconv.kernels.use("conv2d_forward", 1, backend="cuda"):
        assert cu.variant("conv2d_forward") == 1
        assert cu._run_variant("conv2d_forward") == 1
        assert pyconv.kernels.ran("conv2d_forward", backend="cuda") == 1
    assert cu.variant("conv2d_forward") == 2
    with pytest.raises(ValueError, match="steps 1..5"):
        with pyconv.kernels.use("conv2d_forward", 9, backend="cuda"):
            pass
    with pytest.raises(ValueError, match="steps 1..3"):
        pyconv.kernels.set_step("max_pool2d_backward", 4, backend="cuda")


def test_small_problems_take_the_small_kernels_unless_a_variant_is_chosen():
    for primitive, v in cu.SMALL_PROBLEM.items():
        assert 1 <= v <= len(cu.STEPS[primitive])
        assert cu.variant(primitive, small=True) == v
        assert cu.variant(primitive, small=False) == cu.DEFAULTS[primitive]
        with pyconv.kernels.use(primitive, 3, backend="cuda"):
            assert cu.variant(primitive, small=True) == 3
    assert cu.SMALL_PROBLEM["conv2d_backward_weight"] == 2     # one block-reduction per element


def test_block_reductions_split_to_fill_the_gpu():
    # the bias of a 64-channel layer over 128 x 32 x 32 pixels: 64 blocks alone would leave half
    # of 132 SMs idle
    splits, chunk = cu.reduction_splits(64, 128 * 32 * 32, 132)
    assert splits == 17 and 64 * splits >= cu.REDUCE_BLOCKS_PER_SM * 132
    assert (splits - 1) * chunk < 128 * 32 * 32 <= splits * chunk
    assert cu.reduction_splits(64, 3000, 132) == (1, 3000)        # no split shorter than the minimum
    assert cu.reduction_splits(5000, 10 ** 6, 132)[0] == 1         # enough blocks already
    assert cu.reduction_splits(1, 2 ** 31 - 1, 132)[0] <= cu.MAX_GRID_Z


def test_weight_gradient_small_choice_counts_the_pixels_too():
    """Variant 2 against the tiled GEMM (on the 64-row tile the default takes for so few
    filters) by the napkin model: N*P*Q changes the answer for the same filter bank."""
    assert cu._small_weight(6, 25, 64 * 28 * 28, 132)              # LeNet conv1, batch 64 ...
    assert cu._small_weight(6, 25, 4 * 28 * 28, 132)
    assert not cu._small_weight(6, 25, 256 * 28 * 28, 132)         # ... batch 256: the 64-row GEMM
    assert cu._small_weight(16, 150, 16 * 100, 132)                # LeNet conv2, batch 16
    assert not cu._small_weight(16, 150, 256 * 100, 132)           # ... batch 256: the GEMM
    assert not cu._small_weight(64, 576, 64 * 56 * 56, 132)        # VGG 3x3


def test_small_gemm_needs_few_rows_and_a_short_reduction():
    assert cu._small_gemm(6, 1 * 5 * 5)            # LeNet conv1 forward
    assert cu._small_gemm(6, 16 * 5 * 5)           # LeNet conv2 input gradient (C=6, K=16)
    assert not cu._small_gemm(10, 256 * 3 * 3)     # narrow head over a long reduction
    assert not cu._small_gemm(64, 25)              # enough rows for the tiled kernel


def test_tf32_is_opt_in_and_only_for_gemm_primitives():
    """The order of variant(): an explicit choice, then the small-problem rule, then set_tf32,
    then DEFAULTS."""
    assert not cu.tf32_enabled()
    try:
        cu.set_tf32(True)
        for primitive in cu.GEMM_PRIMITIVES:
            assert cu.variant(primitive) == cu.TF32_VARIANT[primitive] == cu.default_step(primitive)
        assert cu.TF32_VARIANT["conv2d_backward_weight"] == 5 and cu.TF32_VARIANT["matmul"] == 4
        assert cu.variant("max_pool2d_forward") == cu.DEFAULTS["max_pool2d_forward"]
        assert cu.variant("conv2d_backward_weight", small=True) == cu.SMALL_PROBLEM["conv2d_backward_weight"]
        with pyconv.kernels.use("matmul", 2, backend="cuda"):
            assert cu.variant("matmul") == 2
    finally:
        cu.set_tf32(False)
    assert cu.variant("matmul") == cu.DEFAULTS["matmul"]


def test_short_tile_pays_where_128_row_tiles_leave_a_quarter_empty():
    """The rule of the 64-row tile: ceil(R/64)*64 <= 0.75 * ceil(R/128)*128. At most 64 rows
    (half a 128-row tile or more is empty) and 129..192 (a quarter or more of two); not 128 or
    256 (full tiles), nor 320 (its three 128-row tiles leave 64 of 384 rows empty: a sixth)."""
    for rows in (1, 10, 63, 64, 129, 160, 192):
        assert cu.short_tile_pays(rows), rows
    for rows in (65, 100, 128, 193, 256, 257, 320, 384, 448, 4096):
        assert not cu.short_tile_pays(rows), rows
    for rows in range(1, 1025):                      # the rule as it reads, in fractions
        tall, short = -(-rows // 128) * 128, -(-rows // 64) * 64
        assert cu.short_tile_pays(rows) == ((tall - rows) / tall >= 0.25 and short <= 0.75 * tall)


def test_the_64_row_tile_replaces_a_128_row_default_for_few_rows(monkeypatch):
    """Rule 4 of variant(): where a GEMM-based primitive's default is one of its 128-row
    variants (gemm_shared today, or gemm_async), a GEMM of few rows takes the 64-row one; an
    explicit choice, the small-problem rule and TF32 come first."""
    for defaults in ("shared", "async"):
        monkeypatch.setattr(cu, "DEFAULTS", {**cu.DEFAULTS, **{p: c[defaults] for p, c in cu.GEMM_VARIANTS.items()}})
        for primitive, cores in cu.GEMM_VARIANTS.items():
            for rows in (1, 64, 150, 192):
                assert cu.variant(primitive, rows=rows) == cores["async64"], (primitive, rows)
            for rows in (65, 128, 256, 320, None):
                assert cu.variant(primitive, rows=rows) == cores[defaults], (primitive, rows)
            assert cu.default_step(primitive) == cores[defaults]          # what pyconv.kernels lists
            with pyconv.kernels.use(primitive, cores[defaults], backend="cuda"):
                assert cu.variant(primitive, rows=64) == cores[defaults]   # an explicit choice wins
            try:
                cu.set_tf32(True)
                assert cu.variant(primitive, rows=64) == cores["tf32"]    # TF32 keeps its tile
            finally:
                cu.set_tf32(False)
    assert cu.variant("conv2d_forward", small=True, rows=6) == cu.SMALL_PROBLEM["conv2d_forward"]
    assert cu.variant("conv2d_backward_bias", rows=64) == cu.DEFAULTS["conv2d_backward_bias"]


def test_weight_gradient_model_counts_the_64_row_tile_at_half_a_k_step(monkeypatch):
    """A 64x128 k-step is half the FMAs of a 128x128 one: for K = 64 the 64-row GEMM has as many
    tiles as the 128-row one and half its cycles; _small_weight compares variant 2 with the GEMM
    the default would run."""
    v128, v64 = (cu.GEMM_VARIANTS["conv2d_backward_weight"][c] for c in ("async", "async64"))
    args = (64, 64 * 9, 64 * 56 * 56, 132)                       # 64x64x3x3 on 56x56, batch 64
    assert 2 * cu.weight_gradient_cycles(v64, *args) == cu.weight_gradient_cycles(v128, *args)
    monkeypatch.setattr(cu, "DEFAULTS", {**cu.DEFAULTS, "conv2d_backward_weight": v128})
    assert cu._small_weight(6, 25, 4 * 28 * 28, 132)               # LeNet conv1, batch 4: variant 2
    # batch 256: 8 splits of variant 2 in 2 waves of 98 products (250,880 cycles) against one
    # 64-row tile in 262 splits of 96 half-cost k-steps (196,608): the GEMM (with 128-row tiles,
    # 393,216 cycles, variant 2; test_weight_gradient_small_choice_counts_the_pixels_too)
    assert cu.weight_gradient_cycles(2, 6, 25, 256 * 28 * 28, 132) == 250880
    assert cu.weight_gradient_cycles(v64, 6, 25, 256 * 28 * 28, 132) == 196608
    assert not cu._small_weight(6, 25, 256 * 28 * 28, 132)
    assert not cu._small_weight(16, 150, 256 * 100, 132)           # LeNet conv2, batch 256: the GEMM
    assert cu._small_weight(16, 150, 16 * 100, 132) == (
        cu.weight_gradient_cycles(2, 16, 150, 16 * 100, 132) < cu.weight_gradient_cycles(v64, 16, 150, 16 * 100, 132))


def test_process_wide_choices_lose_to_a_with_block():
    try:
        pyconv.kernels.set_step("matmul", 3, backend="cuda")
        assert cu.variant("matmul") == 3
        with pyconv.kernels.use("matmul", 1, backend="cuda"):
            assert cu.variant("matmul") == 1
    finally:
        pyconv.kernels.set_step("matmul", None, backend="cuda")
    assert cu.variant("matmul") == cu.DEFAULTS["matmul"]


def test_launch_configuration():
    assert cu.blocks(1) == 1 and cu.blocks(256) == 1 and cu.blocks(257) == 2 and cu.blocks(0) == 1
    assert cu.gemm_grid(M=130, N=1000, batch=3) == (8, 2, 3)
    assert cu.gemm_grid(M=130, N=1000, batch=3, rows=cu.SHORT_TILE) == (8, 3, 3)
    for primitive, cores in cu.GEMM_VARIANTS.items():
        assert [cu.tile_rows(primitive, v) for v in cores.values()] == [128, 128, 128, 64]
    for tiles, Kd, sms in [(1, 64 * 56 * 56, 132), (5, 200704, 132), (40, 1000, 132), (1, 7, 132),
                           (300, 10 ** 6, 132), (1, 2 ** 30, 132)]:
        splits, chunk = cu.split_reduction(tiles, Kd, sms)
        assert chunk % cu.GEMM_BK == 0 and splits >= 1
        assert (splits - 1) * chunk < Kd <= splits * chunk, "every split non-empty, all of Kd covered"
        assert splits <= cu.MAX_GRID_Z
        assert splits == 1 or Kd // splits >= cu.SPLIT_MIN_K - cu.GEMM_BK
    assert cu.split_reduction(5, 64 * 56 * 56, 132)[0] >= 40       # ~2 blocks per SM


def test_matmul_grid_puts_rows_on_x_and_columns_on_y():
    """The op layer folds the batch into the GEMM's rows: past 65535 row blocks (8.4M rows tiled,
    1.05M naive) they must be on gridDim.x, the one axis with a 2^31-1 limit."""
    for v, rows, tile in ((1, 16, 16), (2, 128, 128), (3, 128, 128), (4, 128, 128), (5, 64, 128)):
        M = (cu.MAX_GRID_Z + 1) * rows                  # one row block past the y/z limit
        grid, block = cu.matmul_grid("matmul", v, M, 10, 3)
        assert grid == (cu.MAX_GRID_Z + 1, 1, 3)
        assert block == ((16, 16) if v == 1 else (cu.GEMM_THREADS,))
        grid, _ = cu.matmul_grid("matmul", v, cu.INT_MAX, 1, 1)   # the 32-bit indexing limit
        assert grid[0] == -(-cu.INT_MAX // rows) <= cu.MAX_GRID_X
        assert cu.matmul_grid("matmul", v, 1, cu.MAX_GRID_Z * tile, 1)[0][1] == cu.MAX_GRID_Z
        with pytest.raises(ValueError, match="matmul_backward_b: .* output columns .* y axis"):
            cu.matmul_grid("matmul_backward_b", v, 1, cu.MAX_GRID_Z * tile + 1, 1)


def test_compile_options_select_the_dtype():
    assert "-DPYCONV_DOUBLE" in cu.compile_options(np.float64)
    assert "-DPYCONV_DOUBLE" not in cu.compile_options(np.float32)


def test_available_reports_a_reason():
    ok, reason = cu.available()
    assert isinstance(ok, bool)
    assert ok or reason
    if cu.xp is None:
        assert not ok and "cupy" in reason


@pytest.mark.parametrize("size,pad,taps,stride,dilation", [
    (7, 1, 3, 1, 1), (56, 1, 3, 2, 1), (9, 2, 3, 2, 2), (5, 0, 1, 2, 1), (3, 0, 1, 4, 1),
    (11, 3, 5, 3, 2), (10, 0, 4, 4, 6), (8, 2, 3, 3, 3), (1, 0, 1, 1, 1), (6, 1, 2, 5, 1)])
def test_stride_phases_cover_every_input_tap_pair_once(size, pad, taps, stride, dilation):
    """The phases of the input gradient visit exactly the (h, r, p) triples of the convolution:
    input position h meets tap r from output position p = (h + pad - r*dilation) / stride."""
    P, _ = geometry.conv_output_size(size, size, taps, taps, (stride, stride), (pad,) * 4, (dilation,) * 2)
    want = {(h, r, (h + pad - r * dilation) // stride)
            for h in range(size) for r in range(taps)
            if (h + pad - r * dilation) % stride == 0 and 0 <= (h + pad - r * dilation) // stride < P}
    got, seen = [], []
    for first, count, r0, r_step, r_taps, p0, p_step in cu.stride_phases(size, pad, taps, stride, dilation):
        for i in range(count):
            seen.append(first + i * stride)
            for j in range(r_taps):
                p = p0 + i - j * p_step
                if 0 <= p < P:
                    got.append((first + i * stride, r0 + j * r_step, p))
    assert sorted(seen) == list(range(size))     # every input position in exactly one phase
    assert len(got) == len(set(got)) and set(got) == want
