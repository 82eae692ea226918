"""Course assignments cut out of tinydl itself: ``tinydl assignment make N --out DIR``.

Instructors mark the code a student should write, in the library and in the
tutorial notebooks, with a pair of comments:

    # BEGIN SOLUTION assignment=2 hint="dy/dx = y (1 − y): reuse the saved output"
    return grad * y * (1 - y)
    # END SOLUTION

``make`` copies the package and writes a *student version* in which every region
of assignment N is replaced by a stub that raises ``NotImplementedError`` with
the hint, and regions of other assignments keep their code (their markers are
removed). Beside it go that assignment's autograder tests (the tests in
``tests/assignments/`` marked ``assignmentN``) and a README. Students run
``python -m pytest -m assignmentN`` in that folder: every test fails until the
stubs are written, and passes on the solution (``--solution`` writes the same
folder without stubs, which is how the test suite checks the round trip).
"""

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .files import current_umask

ASSIGNMENTS = {
    1: (
        "Autograd ops and gradient checking",
        "The backward passes of multiplication, division, exp, log, sum and matrix product, the "
        "topological order of back-propagation, and the central-difference gradient check.",
    ),
    2: (
        "Activations, losses and optimisers",
        "ReLU, sigmoid and tanh with their derivatives, stable softmax cross-entropy and MSE, "
        "SGD with momentum and Adam with bias correction.",
    ),
    3: (
        "Convolution and pooling, forward and backward",
        "The reference loops of conv2d (forward, input gradient, weight gradient) and of max-pooling.",
    ),
    4: (
        "Training and evaluating the medical CNN",
        "Input standardisation, class weights, one training step, the confusion matrix and ROC-AUC.",
    ),
}

BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION assignment=(?P<n>\d+)(?: hint=\"(?P<hint>[^\"]*)\")?\s*$")
END = re.compile(r"^[ \t]*# END SOLUTION\s*$")


class AssignmentError(ValueError):
    """Malformed solution markers, an unknown assignment, or no repository to build from."""


@dataclass
class Region:
    path: str
    first: int  # line index of the BEGIN marker
    last: int  # line index of the END marker
    assignment: int
    hint: str
    indent: str


def find_regions(lines, path="<text>"):
    """The solution regions of a list of source lines; raises AssignmentError on unbalanced markers."""
    regions, open_region = [], None
    for i, line in enumerate(lines):
        begin = BEGIN.match(line)
        if begin:
            if open_region is not None:
                raise AssignmentError(
                    f"{path}:{i + 1}: BEGIN SOLUTION inside the region opened at line {open_region.first + 1}"
                )
            n = int(begin["n"])
            if n not in ASSIGNMENTS:
                raise AssignmentError(f"{path}:{i + 1}: unknown assignment {n}; known: {sorted(ASSIGNMENTS)}")
            open_region = Region(path, i, -1, n, begin["hint"] or "", begin["indent"])
        elif END.match(line):
            if open_region is None:
                raise AssignmentError(f"{path}:{i + 1}: END SOLUTION without a BEGIN SOLUTION")
            open_region.last = i
            regions.append(open_region)
            open_region = None
        elif line.lstrip().startswith("# BEGIN SOLUTION"):
            raise AssignmentError(f'{path}:{i + 1}: malformed marker; write: # BEGIN SOLUTION assignment=N hint="..."')
    if open_region is not None:
        raise AssignmentError(f"{path}:{open_region.first + 1}: BEGIN SOLUTION is never closed by END SOLUTION")
    return regions


def student_lines(lines, n, path="<text>", solution=False):
    """``lines`` with assignment n's regions replaced by stubs (kept when ``solution``); all markers removed."""
    out, regions = [], {r.first: r for r in find_regions(lines, path)}
    i = 0
    while i < len(lines):
        region = regions.get(i)
        if region is None:
            out.append(lines[i])
            i += 1
            continue
        body = lines[region.first + 1 : region.last]
        if region.assignment == n and not solution:
            where = f"{Path(path).name}:{region.first + 2}"
            message = f"assignment {n} ({where}): write this part" + (f" — hint: {region.hint}" if region.hint else "")
            out.append(f"{region.indent}raise NotImplementedError({message!r})\n")
        else:
            out.extend(body)
        i = region.last + 1
    return out


def repository_root():
    """The checkout tinydl runs from (assignments need its tests/ and tutorials/)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "tests" / "assignments").is_dir():
        raise AssignmentError(
            f"no tests/assignments/ beside the tinydl package at {root}: "
            "build assignments from a git checkout of tinydl (pip install -e .)"
        )
    return root


def _sources(package):
    """The package's .py files, except this one (whose docstring shows the markers as an example)."""
    return [p for p in sorted(package.rglob("*.py")) if p.name != "assignments.py"]


def regions_of(n, root=None):
    """Every region of assignment n in the package and the notebooks: [(relative path, Region)]."""
    root = Path(root) if root else repository_root()
    found = []
    for path in _sources(root / "tinydl"):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        found += [(path.relative_to(root), r) for r in find_regions(lines, str(path)) if r.assignment == n]
    for path in sorted((root / "tutorials").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            source = cell["source"] if isinstance(cell["source"], list) else cell["source"].splitlines(keepends=True)
            found += [(path.relative_to(root), r) for r in find_regions(source, str(path)) if r.assignment == n]
    return found


def make(n, out, solution=False, root=None):
    """Write assignment n's student folder (or, with ``solution``, the same folder with the solutions)."""
    if n not in ASSIGNMENTS:
        raise AssignmentError(f"unknown assignment {n}; known: {sorted(ASSIGNMENTS)}")
    root = Path(root) if root else repository_root()
    final = Path(out)
    if final.exists() and any(final.iterdir()):
        raise AssignmentError(f"{final} exists and is not empty; choose a new folder")
    regions_of(n, root)  # every marker is checked before anything is written
    # Built in a temporary folder beside the target, renamed into place at the end: an error or
    # Ctrl-C midway leaves no half-made assignment.
    final.parent.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    os.chmod(out, 0o777 & ~current_umask())  # mkdtemp's folder is private (0700); the hand-out should not be
    try:
        stubs = _build(n, root, out, solution)
        if final.exists():
            final.rmdir()  # empty (checked above)
        out.rename(final)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return stubs


def _build(n, root, out, solution):
    stubs = 0
    shutil.copytree(
        root / "tinydl", out / "tinydl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    )
    for path in _sources(out / "tinydl"):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        regions = find_regions(lines, str(path))
        if regions:
            stubs += sum(r.assignment == n for r in regions)
            path.write_text("".join(student_lines(lines, n, str(path), solution)), encoding="utf-8")
    notebooks = []
    for path in sorted((root / "tutorials").glob("*.ipynb")):
        notebook = json.loads(path.read_text(encoding="utf-8"))
        touched = False
        for cell in notebook["cells"]:
            source = cell["source"] if isinstance(cell["source"], list) else cell["source"].splitlines(keepends=True)
            regions = find_regions(source, str(path))
            if any(r.assignment == n for r in regions):
                touched = True
                stubs += sum(r.assignment == n for r in regions)
            if regions:
                cell["source"] = student_lines(source, n, str(path), solution)
        if touched:
            (out / "notebooks").mkdir(parents=True, exist_ok=True)
            (out / "notebooks" / path.name).write_text(
                json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            notebooks.append(path.name)
    tests = out / "tests"
    tests.mkdir(parents=True)
    shutil.copy(root / "tests" / "assignments" / f"test_assignment{n}.py", tests)
    (tests / "conftest.py").write_text(_CONFTEST, encoding="utf-8")
    (out / "pytest.ini").write_text(_PYTEST_INI.format(n=n, title=ASSIGNMENTS[n][0]), encoding="utf-8")
    title, summary = ASSIGNMENTS[n]
    (out / "README.md").write_text(
        _README.format(n=n, title=title, summary=summary, stubs=stubs, notebooks=", ".join(notebooks) or "none"),
        encoding="utf-8",
    )
    return stubs


_CONFTEST = '''"""Autograder set-up: the tinydl in this folder (yours) comes first on the path."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
'''

_PYTEST_INI = """[pytest]
testpaths = tests
markers =
    assignment{n}: the autograder of assignment {n} ({title})
    torch: cross-checks against PyTorch
"""

_README = """# Assignment {n}: {title}

{summary}

This folder holds a copy of tinydl in which {stubs} places raise `NotImplementedError`
with a hint: find them with `grep -rn "NotImplementedError('assignment {n}" tinydl`. Each
sits where the formula is written in the docstring above it. Notebooks with parts to
write: {notebooks}.

Check your work with the autograder (every test fails until you have written the code):

    python -m pytest -m assignment{n}

Use `td.gradcheck` to test a backward pass of your own before you run the autograder.
"""


def main(args):
    """The ``tinydl assignment`` command (see tinydl/cli.py)."""
    if args.action == "list":
        for n, (title, summary) in ASSIGNMENTS.items():
            places = regions_of(n)
            print(f"{n}. {title} — {len(places)} places: {summary}")
        return 0
    if args.number is None:
        raise AssignmentError("which assignment? e.g. tinydl assignment make 1 --out hw1")
    out = args.out or f"assignment{args.number}"
    stubs = make(args.number, out, solution=args.solution)
    if args.solution:
        print(f"Wrote {out}/: the solution version of assignment {args.number} ({stubs} places filled in)")
        return 0
    print(
        f"Wrote {out}/: tinydl with {stubs} places to write, tests/test_assignment{args.number}.py, README.md. "
        f"Students run: cd {out} && python -m pytest -m assignment{args.number}"
    )
    return 0
