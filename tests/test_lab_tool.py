"""The lab tool on a tiny repository of its own: regions found, stubbed, graded, checked."""
import json
import os
import textwrap

import pytest

from pyconv import lab

SOURCE = '''\
def double(x):
    # BEGIN LAB 1: double x
    return 2 * x
    # END LAB 1


def square(x):
    return x * x
'''
C_SOURCE = '''\
int pc_scale(int *x)
{
    /* BEGIN LAB 5: scale in place */
    *x *= 3;
    return 0;
    /* END LAB 5 */
}
'''
TEST = '''\
import pytest
from pyconv.mini import double
pytestmark = pytest.mark.lab1


def test_double():
    assert double(4) == 8


def test_double_negative():
    assert double(-1) == -2
'''


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "pyconv").mkdir(parents=True)
    (root / "pyconv" / "__init__.py").write_text("")
    (root / "pyconv" / "mini.py").write_text(SOURCE)
    (root / "csrc").mkdir()
    (root / "csrc" / "scale.c").write_text(C_SOURCE)
    (root / "tests" / "labs").mkdir(parents=True)
    (root / "tests" / "labs" / "test_mini.py").write_text(TEST)
    (root / "pyproject.toml").write_text('[tool.pytest.ini_options]\nmarkers = ["lab1: lab one"]\n')
    return root


def test_regions_are_found_with_their_lab_and_description(repo):
    regions = lab.find_regions(str(repo))
    assert sorted((r.path, r.lab, r.what) for r in regions) == [
        (os.path.join("csrc", "scale.c"), 5, "scale in place"),
        (os.path.join("pyconv", "mini.py"), 1, "double x")]


def test_stubs_replace_the_solution_and_keep_the_markers(repo, tmp_path):
    student = tmp_path / "student"
    files = lab.new(1, str(student), root=str(repo), later=True)
    assert files == [os.path.join("csrc", "scale.c"), os.path.join("pyconv", "mini.py")]
    py = (student / "pyconv" / "mini.py").read_text()
    assert "return 2 * x" not in py and "# BEGIN LAB 1: double x" in py
    assert '    raise NotImplementedError("lab 1: double x")' in py and "return x * x" in py
    c = (student / "csrc" / "scale.c").read_text()
    assert "*x *= 3" not in c and "return PC_ENOTIMPL; /* lab 5: scale in place */" in c
    only_one = tmp_path / "only1"
    lab.new(1, str(only_one), root=str(repo))
    assert "*x *= 3" in (only_one / "csrc" / "scale.c").read_text()   # later labs kept without --later


def test_grade_scores_the_copy_and_writes_json(repo, tmp_path):
    solved = lab.grade(1, str(repo), out=lambda text: None)
    assert (solved["passed"], solved["total"], solved["score"]) == (2, 2, 100.0)
    student = tmp_path / "student"
    lab.new(1, str(student), root=str(repo))
    lines = []
    report = lab.grade(1, str(student), json_path=str(tmp_path / "g.json"), out=lines.append)
    assert (report["passed"], report["total"]) == (0, 2)
    assert "score: 0/2 = 0.0%" in lines[0] and "NotImplementedError" in lines[0]
    assert json.loads((tmp_path / "g.json").read_text())["tests"][0]["outcome"] == "failed"


def test_broken_markers_are_reported(tmp_path):
    bad = tmp_path / "pyconv"
    bad.mkdir()
    (bad / "x.py").write_text(textwrap.dedent("""\
        # BEGIN LAB 2
        x = 1
    """))
    with pytest.raises(ValueError, match="never closed"):
        lab.find_regions(str(tmp_path))


def test_new_refuses_an_unknown_lab_or_a_full_folder(repo, tmp_path):
    with pytest.raises(ValueError, match="there is no lab 9"):
        lab.new(9, str(tmp_path / "s"), root=str(repo))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(FileExistsError):
        lab.new(1, str(tmp_path / "full"), root=str(repo))
