"""torch's namespace on pyconv: subpackages reachable after a plain `import pyconv` (loaded on
first use), pyconv.device objects wherever a device string goes, pyconv.cuda and
pyconv.accelerator, pyconv.Generator and the global seed functions."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import pyconv as pc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAZY = ["pyconv.nn", "pyconv.optim", "pyconv.data", "pyconv.utils", "pyconv.vision", "pyconv.models",
        "pyconv.train", "pyconv.cuda", "pyconv.accelerator"]


def run_python(code):
    """stdout of `code` in a fresh interpreter (nothing imported yet)."""
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


# -- the namespace ---------------------------------------------------------------------------------
def test_import_pyconv_leaves_the_subpackages_unloaded():
    out = run_python(f"import sys, pyconv; print([m for m in {LAZY!r} if m in sys.modules])")
    assert out.strip() == "[]"


def test_subpackages_resolve_after_a_plain_import():
    out = run_python(
        "import pyconv as pc\n"
        "names = [pc.nn.Linear, pc.nn.functional.relu, pc.optim.SGD, pc.optim.lr_scheduler.StepLR,\n"
        "         pc.data.DataLoader, pc.utils.data.DataLoader, pc.utils.data.TensorDataset,\n"
        "         pc.utils.data.random_split, pc.utils.data.Subset, pc.utils.data.default_collate,\n"
        "         pc.utils.data.get_worker_info, pc.vision.datasets.MNIST, pc.vision.transforms.ToTensor,\n"
        "         pc.models, pc.cuda.is_available, pc.accelerator.current_accelerator]\n"
        "assert pc.utils.data.DataLoader is pc.data.DataLoader\n"
        "print(len(names))")
    assert out.strip() == "16"


def test_from_imports_in_torch_style():
    from pyconv.utils.data import DataLoader, Dataset, TensorDataset, random_split  # noqa: F401
    from pyconv.vision import datasets, transforms  # noqa: F401
    import pyconv.nn.functional as F  # noqa: F401
    assert DataLoader is pc.data.DataLoader and datasets.FashionMNIST and transforms.Normalize


def test_dir_lists_the_lazy_subpackages_and_unknown_names_fail():
    assert {"nn", "optim", "utils", "vision", "cuda", "device", "manual_seed"} <= set(dir(pc))
    with pytest.raises(AttributeError, match="no attribute 'tensorflow'"):
        pc.tensorflow  # noqa: B018


# -- devices ---------------------------------------------------------------------------------------
def test_device_objects():
    d = pc.device("cuda:0")
    assert (d.type, d.index, str(d), repr(d)) == ("cuda", 0, "cuda:0", "device(type='cuda', index=0)")
    cpu = pc.device("cpu")
    assert (cpu.type, cpu.index, str(cpu), repr(cpu)) == ("cpu", None, "cpu", "device(type='cpu')")
    assert pc.device("cuda", 0) == d and pc.device(0) == d and pc.device(d) is d
    assert d == "cuda" and d == "cuda:0" and pc.device("cuda") == d and cpu == "cpu" and cpu != "cuda"
    assert {"cuda": 1}[d] == 1 and {"cpu": 2}[cpu] == 2  # hashes agree with equality
    assert isinstance(d, pc.device) and not isinstance("cuda", pc.device)
    assert pickle.loads(pickle.dumps(d)) == d and f"{cpu}" == "cpu"


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "cuda:-1", ""])
def test_bad_device_names(bad):
    with pytest.raises(ValueError, match="unknown device"):
        pc.device(bad)


def test_device_objects_go_where_strings_go():
    cpu = pc.device("cpu")
    t = pc.tensor([1.0, 2.0]).to(cpu)
    assert t.device == cpu and t.device == "cpu"
    assert pc.zeros(2, device=cpu).device == "cpu"
    model = pc.nn.Linear(2, 1).to(cpu)
    assert all(p.device == "cpu" for p in model.parameters())
    ds = pc.utils.data.TensorDataset(np.ones((4, 2), np.float32), np.arange(4))
    x, y = next(iter(pc.utils.data.DataLoader(ds, batch_size=4, device=cpu)))
    assert x.device == "cpu" and y.numpy().tolist() == [0, 1, 2, 3]


def test_a_second_gpu_is_refused():
    with pytest.raises(ValueError, match="one GPU"):
        pc.zeros(2, device=pc.device("cuda:1"))


def test_cuda_and_accelerator_agree():
    available = pc.cuda.is_available()
    assert isinstance(available, bool) and pc.accelerator.is_available() == available
    assert pc.cuda.device_count() == (1 if available else 0) == pc.accelerator.device_count()
    accelerator = pc.accelerator.current_accelerator()
    assert accelerator == (pc.device("cuda") if available else None)
    device = pc.device("cuda" if pc.cuda.is_available() else "cpu")
    assert pc.ones(3, device=device).device == device


# -- generators and seeds --------------------------------------------------------------------------
def test_generator_like_torch_generator():
    g = pc.Generator()
    assert g.manual_seed(42) is g and g.initial_seed() == 42
    np.testing.assert_array_equal(g.random(4), np.random.default_rng(42).random(4))
    state = g.get_state()
    a = g.random(3)
    g.set_state(state)
    np.testing.assert_array_equal(g.random(3), a)
    h = pickle.loads(pickle.dumps(g))
    assert isinstance(h, pc.Generator) and h.initial_seed() == 42
    np.testing.assert_array_equal(h.random(2), g.random(2))
    assert pc.Generator().initial_seed() == pc.Generator().initial_seed()  # a fixed default seed


def test_global_seed_functions():
    assert pc.manual_seed(7) is pc.default_generator() and pc.initial_seed() == 7
    state = pc.get_rng_state()
    a = pc.rand(3).numpy()
    pc.set_rng_state(state)
    np.testing.assert_array_equal(pc.rand(3).numpy(), a)
    seed = pc.seed()
    assert pc.initial_seed() == seed and 0 <= seed < 2**64
    assert pc.random.default_generator() is pc.default_generator()  # re-seeded in place


def test_generator_arguments_take_pyconv_generators_and_seeds():
    a = pc.randn(4, generator=pc.Generator().manual_seed(3)).numpy()
    np.testing.assert_array_equal(pc.randn(4, generator=3).numpy(), a)
    w = pc.nn.Linear(3, 2).weight
    pc.nn.init.normal_(w, generator=5)
    first = w.numpy().copy()
    pc.nn.init.normal_(w, generator=pc.Generator().manual_seed(5))
    np.testing.assert_array_equal(w.numpy(), first)
