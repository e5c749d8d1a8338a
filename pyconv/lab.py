"""`python -m pyconv lab`: the lab track, cut from pyconv's own sources.

The code students write in lab N is marked in the real sources, so the labs never drift from
the engine:

    # BEGIN LAB 3: im2col of the padded input          (Python)
    ... the solution ...
    # END LAB 3

    /* BEGIN LAB 5: the cache-blocked GEMM */          (C and CUDA)
    ... the solution ...
    /* END LAB 5 */

The markers are comments: pyconv as shipped runs the solutions. `lab new N DIR` writes a student
copy of the repository in which lab N's regions (with `--later`, every later lab's too) are
replaced by a stub at the marker's indentation: in Python `raise NotImplementedError("lab N: ...")`,
in C `return PC_ENOTIMPL;` (the c backend turns it into NotImplementedError), in CUDA an empty
body (the kernel writes nothing, so its tests fail). The tests of lab N are the ones marked
`labN` under tests/labs/; `lab grade N --path DIR` runs them against the copy in DIR and prints a
score table (and a JSON report with --json), and `lab solution-check` verifies that every lab's
tests pass on the solutions and fail on the stubs.

    python -m pyconv lab list
    python -m pyconv lab new 3 student/            # then: pip install -e student/
    python -m pyconv lab grade 3 --path student/ --json grade.json
    python -m pyconv lab solution-check
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Lab(NamedTuple):
    number: int
    slug: str
    title: str


LABS = {lab.number: lab for lab in [
    Lab(1, "scalar-autograd", "Scalar autograd: Value's operations and the backward pass"),
    Lab(2, "tensor-autograd", "Tensor autograd: broadcasting, reductions, matmul and their gradients"),
    Lab(3, "conv-numpy", "conv2d in numpy: im2col, the forward GEMM, col2im and the gradients"),
    Lab(4, "pooling", "Pooling: max pooling with the saved argmax, average pooling, both directions"),
    Lab(5, "fast-c", "A fast C kernel: a cache-blocked GEMM, packing and a micro-kernel, OpenMP"),
    Lab(6, "cuda", "CUDA: the naive conv2d kernel, then shared-memory tiling"),
    Lab(7, "training", "Training LeNet-5: layers, an optimizer and the loop"),
]}

SCANNED = ("pyconv", "csrc")                      # where regions may be
SOURCES = (".py", ".c", ".h", ".cu", ".cuh")
SKIPPED = {".git", ".venv", "build", "runs", "__pycache__", ".pytest_cache", "site", "dist"}
SELF = os.path.join("pyconv", "lab.py")          # its docstring shows markers: examples, not regions
_BEGIN = re.compile(r"^(?P<indent>[ \t]*)(?:#|/\*|//)\s*BEGIN LAB (?P<lab>\d+)(?::\s*(?P<what>.*?))?\s*(?:\*/)?\s*$")
_END = re.compile(r"^[ \t]*(?:#|/\*|//)\s*END LAB (?P<lab>\d+)\s*(?:\*/)?\s*$")


class Region(NamedTuple):
    path: str        # relative to the repository root
    lab: int
    what: str
    begin: int       # line numbers (0-based) of the two markers
    end: int
    indent: str


def find_regions(root=ROOT):
    """Every marked region under the scanned folders, in file order; raises on a broken marker."""
    out = []
    for top in SCANNED:
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED)
            for name in sorted(files):
                path = os.path.join(folder, name)
                if name.endswith(SOURCES) and os.path.relpath(path, root) != SELF:
                    with open(path, encoding="utf-8") as f:
                        out += _regions_of(os.path.relpath(path, root), f.read().splitlines())
    return out


def _regions_of(rel, lines):
    out, open_ = [], None
    for i, line in enumerate(lines):
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            if open_:
                raise ValueError(f"{rel}:{i + 1}: BEGIN LAB inside the region opened at line {open_[1] + 1}")
            open_ = (begin, i)
        elif end:
            if not open_ or int(end["lab"]) != int(open_[0]["lab"]):
                raise ValueError(f"{rel}:{i + 1}: END LAB {end['lab']} without its BEGIN")
            b = open_[0]
            out.append(Region(rel, int(b["lab"]), b["what"] or "", open_[1], i, b["indent"]))
            open_ = None
    if open_:
        raise ValueError(f"{rel}:{open_[1] + 1}: BEGIN LAB {open_[0]['lab']} is never closed")
    return out


def stub_lines(region):
    """What replaces a region in the student copy: the markers stay, the solution goes."""
    what = region.what or LABS[region.lab].title
    if region.path.endswith(".py"):
        return [f'{region.indent}raise NotImplementedError("lab {region.lab}: {what}")']
    if region.path.endswith((".cu", ".cuh")):
        return [f"{region.indent}/* lab {region.lab}: {what} */"]
    return [f"{region.indent}return PC_ENOTIMPL; /* lab {region.lab}: {what} */"]


def stubbed(lines, regions):
    """`lines` with each of `regions` (of this file) replaced by its stub."""
    out, last = [], 0
    for r in sorted(regions, key=lambda r: r.begin):
        out += lines[last:r.begin + 1] + stub_lines(r)
        last = r.end
    return out + lines[last:]


def repository_files(root=ROOT):
    """The files of the repository a student copy needs (no builds, caches or data)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED and not d.endswith(".egg-info"))
        for name in sorted(files):
            if not name.endswith((".so", ".pyc", ".o")) and not name.startswith("_cconv"):
                yield os.path.relpath(os.path.join(folder, name), root)


def new(number, dest, *, later=False, root=ROOT):
    """Write the student copy of lab `number` into `dest` (which must not exist or be empty)."""
    _lab(number)
    if os.path.exists(dest) and os.listdir(dest):
        raise FileExistsError(f"{dest} exists and is not empty")
    labs = {n for n in LABS if n == number or (later and n > number)}
    by_file = {}
    for r in find_regions(root):
        if r.lab in labs:
            by_file.setdefault(r.path, []).append(r)
    if not any(r.lab == number for rs in by_file.values() for r in rs):
        raise ValueError(f"lab {number} has no marked region in {root}")
    for rel in repository_files(root):
        target = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if rel in by_file:
            with open(os.path.join(root, rel), encoding="utf-8") as f:
                lines = f.read().splitlines()
            with open(target, "w", encoding="utf-8") as f:
                f.write("\n".join(stubbed(lines, by_file[rel])) + "\n")
        else:
            shutil.copy2(os.path.join(root, rel), target)
    return sorted(by_file)


def _lab(number):
    if number not in LABS:
        raise ValueError(f"there is no lab {number}; labs: {', '.join(map(str, LABS))}")
    return LABS[number]


class Result(NamedTuple):
    test: str
    outcome: str      # "passed", "failed", "skipped"
    message: str


def grade(number, path=ROOT, *, json_path=None, out=print, timeout=1800):
    """Run lab `number`'s tests against the copy in `path`; print the table, return the report."""
    _lab(number)
    path = os.path.abspath(path)
    started = time.perf_counter()
    build_error = _build_c(path) if _has_c_regions(number, path) else ""
    results = [] if build_error else _run_tests(number, path, timeout)
    if build_error:
        results = [Result("build the C extension", "failed", build_error)]
    report = _report(number, path, results, time.perf_counter() - started)
    out(format_report(report))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=1)
    return report


def _has_c_regions(number, path):
    return any(r.lab == number and not r.path.endswith(".py") and "cuda" not in r.path
               for r in find_regions(path))


def _build_c(path):
    """"" when the copy's C extension builds, else the compiler's last lines."""
    run = subprocess.run([sys.executable, os.path.join(path, "pyconv", "_build_c.py")], cwd=path,
                         capture_output=True, text=True)
    return "" if run.returncode == 0 else (run.stdout + run.stderr)[-2000:]


def _run_tests(number, path, timeout):
    with tempfile.TemporaryDirectory() as tmp:
        xml = os.path.join(tmp, "report.xml")
        env = dict(os.environ, PYTHONPATH=path + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("PYCONV_KERNELS", None)
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", f"lab{number}", "-p", "no:cacheprovider",
                        f"--junitxml={xml}", os.path.join(path, "tests", "labs")],
                       cwd=path, env=env, capture_output=True, text=True, timeout=timeout)
        if not os.path.exists(xml):
            return [Result("run the tests", "failed", "pytest did not run (see `python -m pytest tests/labs`)")]
        return _parse_junit(xml)


def _parse_junit(xml):
    results = []
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rpartition('.')[2]}::{case.get('name')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = (node.get("message") or "").splitlines()[0][:160] if node.get("message") else tag
                break
        results.append(Result(name, outcome, message))
    return sorted(results)


def _report(number, path, results, seconds):
    graded = [r for r in results if r.outcome != "skipped"]
    passed = sum(r.outcome == "passed" for r in graded)
    return {"lab": number, "title": LABS[number].title, "path": path,
            "tests": [r._asdict() for r in results], "passed": passed, "total": len(graded),
            "score": round(100.0 * passed / len(graded), 1) if graded else 0.0, "seconds": round(seconds, 1)}


def format_report(report):
    lines = [f"lab {report['lab']}: {report['title']}", f"  {'test':<60} result"]
    for t in report["tests"]:
        note = f"  ({t['message']})" if t["outcome"] != "passed" and t["message"] else ""
        lines.append(f"  {t['test']:<60} {t['outcome']}{note}")
    lines.append(f"score: {report['passed']}/{report['total']} = {report['score']:.1f}%")
    return "\n".join(lines)


def solution_check(numbers=None, *, out=print, root=ROOT):
    """Every lab's tests pass on the solutions (this repository) and fail on its stubs."""
    problems = []
    for number in numbers or sorted(LABS):
        solved = grade(number, root, out=lambda text: None)
        if solved["total"] == 0 or solved["passed"] != solved["total"]:
            problems.append(f"lab {number}: {solved['passed']}/{solved['total']} tests pass on the solutions")
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, "student")
            new(number, copy, root=root)
            stub = grade(number, copy, out=lambda text: None)
        still = [t["test"] for t in stub["tests"] if t["outcome"] == "passed"]
        if still:
            problems.append(f"lab {number}: {len(still)} tests pass on the stubs: {', '.join(still)}")
        out(f"lab {number}: {solved['passed']}/{solved['total']} pass on the solutions, "
            f"{stub['total'] - stub['passed']}/{stub['total']} fail on the stubs "
            f"({solved['seconds'] + stub['seconds']:.0f} s)")
    for p in problems:
        out("PROBLEM " + p)
    return not problems


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pyconv lab", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the labs and where their regions are")
    p_new = sub.add_parser("new", help="write a student copy with lab N's regions stubbed")
    p_new.add_argument("number", type=int)
    p_new.add_argument("dir")
    p_new.add_argument("--later", action="store_true", help="also stub every later lab")
    p_grade = sub.add_parser("grade", help="run lab N's tests against a student copy")
    p_grade.add_argument("number", type=int)
    p_grade.add_argument("--path", default=ROOT)
    p_grade.add_argument("--json", metavar="PATH")
    p_check = sub.add_parser("solution-check", help="tests pass on the solutions, fail on the stubs")
    p_check.add_argument("numbers", type=int, nargs="*")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            regions = find_regions()
            for lab in LABS.values():
                where = sorted({f"{r.path}" for r in regions if r.lab == lab.number})
                handout = f"labs/{lab.number:02d}-{lab.slug}.md"
                print(f"{lab.number}  {lab.title}\n   handout {handout}; regions in {', '.join(where) or 'none yet'}")
            return 0
        if args.command == "new":
            files = new(args.number, args.dir, later=args.later)
            print(f"wrote {args.dir}: lab {args.number} stubbed in {', '.join(files)}\n"
                  f"next: pip install -e {args.dir} && python -m pyconv lab grade {args.number} --path {args.dir}")
            return 0
        if args.command == "grade":
            report = grade(args.number, args.path, json_path=args.json)
            return 0 if report["total"] and report["passed"] == report["total"] else 1
        return 0 if solution_check(args.numbers or None) else 1
    except (ValueError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
