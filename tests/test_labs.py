"""Every lab's tests pass on the solutions (pyconv as shipped) and each of them fails on the
stubs that `python -m pyconv lab new` writes (pyconv.lab.solution_check).

Lab 5 rebuilds the C extension twice (solutions and stubs); it runs on a copy of the repository,
so the extension of this working tree is not replaced under the other tests. Labs 5 and 6 are
skipped where their compilers are missing.
"""
import os
import shutil

import pytest

from pyconv import lab


def copy_of_repository(dest):
    for rel in lab.repository_files():
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(lab.ROOT, rel), target)
    return str(dest)


def check(number, root=lab.ROOT):
    lines = []
    ok = lab.solution_check([number], out=lines.append, root=root)
    assert ok, "\n".join(lines)
    assert lines[0].startswith(f"lab {number}: ")


@pytest.mark.parametrize("number", [1, 2, 3, 4, 7])
def test_python_labs(number):
    check(number)


@pytest.mark.slow
def test_lab5_fast_c(tmp_path):
    pytest.importorskip("cffi")
    if not (shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")):
        pytest.skip("no C compiler")
    check(5, copy_of_repository(tmp_path / "repo"))


def test_lab6_cuda_emulated():
    if not (shutil.which("g++") or shutil.which("clang++")):
        pytest.skip("no C++ compiler for the CUDA emulation")
    check(6)


def test_every_lab_has_regions_tests_and_a_handout():
    regions = lab.find_regions()
    for number, info in lab.LABS.items():
        assert any(r.lab == number for r in regions), f"lab {number} has no region"
        tests = os.path.join(lab.ROOT, "tests", "labs", f"test_lab{number}_{info.slug.replace('-', '_')}.py")
        assert os.path.isfile(tests), tests
        assert os.path.isfile(os.path.join(lab.ROOT, "labs", f"{number:02d}-{info.slug}.md"))
    assert os.path.isfile(os.path.join(lab.ROOT, "labs", "README.md"))
