"""`python -m pyconv` as a new user meets it: a missing data folder is one line and exit status 2,
`info` says why the C extension is missing and what to do, and the source distribution carries
what the tests, benchmarks and book need (MANIFEST.in)."""
import os
import subprocess
import sys

import pytest

from pyconv import __main__ as cli
from pyconv import _diagnose

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_train_without_data_is_one_line_and_exit_status_2(tmp_path):
    missing = tmp_path / "nothing-here"
    env = dict(os.environ, PYCONV_BACKEND="numpy")
    env.pop("PYCONV_DATA", None)
    result = subprocess.run([sys.executable, "-m", "pyconv", "train", "--data-dir", str(missing),
                             "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert str(missing) in result.stderr and "--download" in result.stderr and "PYCONV_DATA" in result.stderr


def test_train_without_data_dir_names_the_cache_and_pyconv_data(tmp_path, monkeypatch, capsys):
    from pyconv import train
    monkeypatch.delenv("PYCONV_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty ~/.cache/pyconv
    with pytest.raises(SystemExit) as info:
        train.main(["--dataset", "fashion-mnist", "--out", str(tmp_path / "run")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"no FashionMNIST data in {tmp_path}/.cache/pyconv/fashion-mnist" in err
    assert "PYCONV_DATA not set" in err
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(SystemExit):
        train.main(["--out", str(tmp_path / "run")])
    assert f"$PYCONV_DATA ({tmp_path / 'elsewhere'})" in capsys.readouterr().err


# -- info: the C extension's diagnosis ----------------------------------------------------------------
@pytest.fixture
def not_built(monkeypatch):
    """An extension that does not import and no file of it next to the package."""
    monkeypatch.setattr(_diagnose, "_import_extension", lambda: ImportError("No module named 'pyconv._cconv'"))
    monkeypatch.setattr(_diagnose, "_extension_files", lambda: [])


def test_diagnosis_when_built(monkeypatch):
    monkeypatch.setattr(_diagnose, "_import_extension", lambda: None)
    assert _diagnose.diagnose_c_extension()["state"] == "built"


def test_diagnosis_no_compiler(not_built, monkeypatch):
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    d = _diagnose.diagnose_c_extension()
    assert d["state"] == "no-compiler" and "no-such-compiler-xyz" in d["reason"]
    assert "build-essential" in d["fix"] and "_build_c.py" in d["fix"]


def test_diagnosis_not_built_yet(not_built, monkeypatch):
    monkeypatch.setattr(_diagnose, "compiler", lambda: (["cc"], "/usr/bin/cc"))
    monkeypatch.setattr(_diagnose, "_has_sources", lambda: True)
    d = _diagnose.diagnose_c_extension()
    assert d["state"] == "not-built" and "/usr/bin/cc" in d["reason"]
    assert "python pyconv/_build_c.py" in d["fix"] and "info --build" in d["fix"]


def test_diagnosis_compile_error(not_built, monkeypatch):
    monkeypatch.setattr(_diagnose, "compiler", lambda: (["cc"], "/usr/bin/cc"))
    monkeypatch.setattr(_diagnose, "_has_sources", lambda: True)
    monkeypatch.setattr(_diagnose, "_try_build", lambda: (False, "csrc/gemm.c:10: error: unknown type 'v8f'"))
    d = _diagnose.diagnose_c_extension(build=True)
    assert d["state"] == "compile-error" and "csrc/gemm.c:10: error" in d["reason"]
    assert "PYCONV_NO_OPENMP=1" in d["fix"]


def test_diagnosis_a_file_that_does_not_load(monkeypatch):
    monkeypatch.setattr(_diagnose, "_import_extension", lambda: ImportError("undefined symbol: pc_gemm"))
    monkeypatch.setattr(_diagnose, "_extension_files", lambda: ["/x/pyconv/_cconv.abi3.so"])
    d = _diagnose.diagnose_c_extension()
    assert d["state"] == "load-error" and "_cconv.abi3.so" in d["reason"] and "undefined symbol" in d["reason"]


def test_diagnosis_installed_copy_without_sources(not_built, monkeypatch):
    monkeypatch.setattr(_diagnose, "compiler", lambda: (["cc"], "/usr/bin/cc"))
    monkeypatch.setattr(_diagnose, "_has_sources", lambda: False)
    assert _diagnose.diagnose_c_extension()["state"] == "no-sources"


def test_info_prints_the_diagnosis(not_built, monkeypatch, capsys):
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "C extension: no-compiler: no C compiler found" in out and "  fix: install gcc" in out
    assert cli.main(["info", "--bogus"]) == 2


def test_info_on_this_machine(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pyconv ") and "C extension: " in out


# -- the source distribution ----------------------------------------------------------------------
def test_manifest_ships_sources_tests_benchmarks_and_docs():
    """MANIFEST.in evaluated with setuptools' own template rules on this checkout."""
    from setuptools.command.egg_info import FileList
    files = FileList()
    files.findall(REPO)
    with open(os.path.join(REPO, "MANIFEST.in")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                files.process_template_line(line)
    shipped = {os.path.relpath(os.path.join(REPO, p), REPO).replace(os.sep, "/") for p in files.files}
    for path in ("csrc/pyconv.h", "csrc/cuda/matmul.cu", "tests/test_train.py", "tests/conftest.py",
                 "tests/cuda_emu/shim.h", "benchmarks/NOTES.md", "docs/index.md", "docs/make_figures.py",
                 "pyconv/backends/CONTRACT.md", "README.md", "pyproject.toml", "setup.py"):
        if os.path.exists(os.path.join(REPO, path)):
            assert path in shipped, path
    assert not any(p.endswith((".so", ".pyc", ".o")) for p in shipped)
    assert not any(p.startswith(("build/", "runs/", ".venv/")) for p in shipped)
