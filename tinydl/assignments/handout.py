"""``tinydl assignment make N --out DIR``: write assignment N's hand-out (or, ``--solution``, its answer key).

A hand-out is an installable copy of tinydl (``pip install -e .``) in which each
task of assignment N is a stub between BEGIN TASK / END TASK lines, the code
that would answer a task (fast kernels) is left out, and every other
assignment's code is kept. Beside it: the assignment's notebooks, its tests
(students run ``python -m pytest -m aN_TASK``), ``answers.md`` for the written
questions, ``assignment.json`` (what the grader reads) and a README with the
tasks in order.
"""

import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from .._version import __version__
from ..files import current_umask
from .catalog import assignment
from .markers import EXERCISE, AssignmentError, find_regions, handout_lines

PACKAGE = Path(__file__).resolve().parents[1]  # the tinydl package this module belongs to
GRADERS = Path(__file__).resolve().parent / "graders"
NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
SOURCE_SUFFIXES = (".py", ".cu")


def package_sources(package=PACKAGE):
    """The files of a tinydl package that may hold solution regions (.py and .cu), this package's own excepted."""
    skip = package / "assignments"  # its docstrings show the markers as examples
    return [
        p
        for p in sorted(package.rglob("*"))
        if p.suffix in SOURCE_SUFFIXES and skip not in p.parents and "__pycache__" not in p.parts
    ]


def notebook_cells(path):
    """The notebook at ``path`` and its cells' sources as lists of lines."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    sources = []
    for cell in notebook["cells"]:
        source = cell["source"]
        sources.append(source if isinstance(source, list) else source.splitlines(keepends=True))
    return notebook, sources


def regions_of(n, package=PACKAGE):
    """Every region of assignment n in the package and in its notebooks: [(path, lines, Region)],
    ``lines`` being the file's lines (or the notebook cell's) the region indexes into."""
    found = []
    for path in package_sources(package):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        found += [(path, lines, r) for r in find_regions(lines, str(path)) if r.assignment == n]
    for path in sorted((package / "assignments" / "notebooks").glob("*.ipynb")):
        for lines in notebook_cells(path)[1]:
            found += [(path, lines, r) for r in find_regions(lines, str(path)) if r.assignment == n]
    return found


def check_regions(n, package=PACKAGE):
    """Every task of assignment n has a region, and every region a known task; returns the regions."""
    spec = assignment(n)
    found = regions_of(n, package)
    tasks = [r.task for _, _, r in found if not r.remove]
    for path, _, region in found:
        if not region.remove and region.task not in spec.task_names():
            raise AssignmentError(
                f"{path}:{region.first + 1}: assignment {n} has no task {region.task!r} (tasks: {spec.task_names()})"
            )
    for name in spec.task_names():
        if name not in tasks:
            raise AssignmentError(f"task {name!r} of assignment {n} has no region in the source: mark its code")
    return found


def make(n, out, solution=False, package=PACKAGE):
    """Write assignment n's hand-out into the new folder ``out``; returns the number of stubs."""
    spec = assignment(n)
    final = Path(out)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise AssignmentError(f"{final} exists and is not an empty folder; choose a new folder")
    check_regions(n, package)  # every marker is checked before anything is written
    # Built in a temporary folder beside the target, renamed into place at the end: an error or
    # Ctrl-C midway leaves no half-made hand-out.
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    os.chmod(work, 0o777 & ~current_umask())  # mkdtemp's folder is private (0700); a hand-out should not be
    try:
        stubs = _build(spec, package, work, solution)
        if final.exists():
            final.rmdir()  # empty (checked above)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return stubs


def _build(spec, package, out, solution):
    n = spec.number
    shutil.copytree(
        package,
        out / "tinydl",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc", "notebooks", "*.egg-info"),
    )
    stubs = 0
    for path in package_sources(out / "tinydl"):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        regions = find_regions(lines, str(path))
        if regions:
            stubs += sum(r.assignment == n and not r.remove for r in regions)
            path.write_text("".join(handout_lines(lines, n, str(path), solution)), encoding="utf-8")
    notebooks = _write_notebooks(package / "assignments" / "notebooks", out / "notebooks", n, solution)
    stubs += notebooks.pop("stubs")
    tests = out / "tests"
    tests.mkdir()
    shutil.copy(GRADERS / f"test_assignment{n}.py", tests)
    shutil.copy(GRADERS / "grader_tools.py", tests)
    (tests / "conftest.py").write_text(_STUDENT_CONFTEST, encoding="utf-8")
    markers = "".join(f"    {m}: {t.title} ({t.points} points)\n" for m, t in zip(spec.markers(), spec.tasks))
    (out / "pytest.ini").write_text(_PYTEST_INI.format(markers=markers), encoding="utf-8")
    (out / "pyproject.toml").write_text(_PYPROJECT.format(version=__version__, n=n), encoding="utf-8")
    (out / "answers.md").write_text(answers_template(spec), encoding="utf-8")
    info = {
        "assignment": n,
        "title": spec.title,
        "tinydl_version": __version__,
        "made": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "solution": bool(solution),
        "tasks": [{"marker": m, "points": t.points, "title": t.title} for m, t in zip(spec.markers(), spec.tasks)],
        "questions": list(spec.questions),
    }
    (out / "assignment.json").write_text(json.dumps(info, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "README.md").write_text(readme(spec, stubs, sorted(notebooks)), encoding="utf-8")
    return stubs


def _write_notebooks(source_folder, out_folder, n, solution):
    """Assignment n's notebooks, stubbed; returns {name: stubs} and the total under "stubs"."""
    written, total = {}, 0
    for path in sorted(source_folder.glob("*.ipynb")):
        notebook, sources = notebook_cells(path)
        count = 0
        for cell, source in zip(notebook["cells"], sources):
            regions = find_regions(source, str(path))
            count += sum(r.assignment == n and not r.remove for r in regions)
            if regions:
                cell["source"] = handout_lines(source, n, str(path), solution)
        if count:
            out_folder.mkdir(parents=True, exist_ok=True)
            (out_folder / path.name).write_text(
                json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            written[path.name] = count
            total += count
    written["stubs"] = total
    return written


def student_tutorials(tutorials, out, solution=False):
    """Write the students' version of the tutorial notebooks in ``tutorials`` into the new folder ``out``:
    each exercise's solution becomes a stub raising NotImplementedError with its hint. Returns the count."""
    tutorials, final = Path(tutorials), Path(out)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise AssignmentError(f"{final} exists and is not an empty folder; choose a new folder")
    paths = sorted(tutorials.glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise AssignmentError(f"no tutorial notebooks (NN_name.ipynb) in {tutorials}")
    final.mkdir(parents=True, exist_ok=True)
    stubs = 0
    for path in paths:
        notebook, sources = notebook_cells(path)
        for cell, source in zip(notebook["cells"], sources):
            regions = find_regions(source, str(path))
            stubs += sum(r.assignment == EXERCISE for r in regions)
            if regions:
                cell["source"] = handout_lines(source, EXERCISE, str(path), solution)
            if cell["cell_type"] == "markdown" and not solution and _is_instructor_solution(cell["source"]):
                cell["source"] = ["*(The instructors' version of this notebook has a model answer here.)*\n"]
        (final / path.name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return stubs


def _is_instructor_solution(source):
    text = "".join(source) if isinstance(source, list) else source
    return text.lstrip().startswith("**Solution (instructors).**")


def answers_template(spec):
    """answers.md of a hand-out: the written questions, each followed by "Your answer:"."""
    parts = [
        f"# Assignment {spec.number}: written questions\n\n"
        'Answer each question below its "Your answer:" line, in a few sentences (keep the headings).\n'
        "The instructor grades these by hand; the autograder only collects them.\n"
    ]
    for i, question in enumerate(spec.questions, 1):
        parts.append(f"\n## Question {i}\n\n{question}\n\nYour answer:\n\n")
    return "".join(parts)


def readme(spec, stubs, notebooks):
    rows = "".join(
        f"| {i} | `{m}` | {t.points} | {t.title} |\n" for i, (m, t) in enumerate(zip(spec.markers(), spec.tasks), 1)
    )
    return _README.format(
        n=spec.number,
        title=spec.title,
        summary=spec.summary,
        stubs=stubs,
        rows=rows,
        total=spec.points,
        questions=len(spec.questions),
        notebooks=", ".join(f"`notebooks/{name}`" for name in notebooks) or "none",
        first=spec.markers()[0],
    )


_STUDENT_CONFTEST = '''"""Your tests run against the tinydl in this folder (yours), never an installed one."""

import pathlib
import sys

HANDOUT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HANDOUT))

import tinydl  # noqa: E402

if HANDOUT not in pathlib.Path(tinydl.__file__).resolve().parents:
    raise ImportError(f"the tests imported tinydl from {tinydl.__file__}, not from this hand-out ({HANDOUT})")
'''

_PYTEST_INI = """[pytest]
testpaths = tests
addopts = --strict-markers
markers =
{markers}"""

_PYPROJECT = """# This hand-out installs as the package tinydl: use a virtual environment of its own, so that it
# does not replace a tinydl you installed for other work.
[build-system]
requires = ["setuptools>=68", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "tinydl"
version = "{version}+assignment{n}"
requires-python = ">=3.10"
dependencies = ["numpy>=1.24", "numba>=0.58", "matplotlib>=3.6"]

[project.optional-dependencies]
test = ["pytest>=7", "hypothesis>=6.80"]
notebook = ["jupyterlab"]

[tool.setuptools.packages.find]
include = ["tinydl*"]

[tool.setuptools.package-data]
"*" = ["*.cu", "*.h", "*.ipynb"]
"""

_README = """# Assignment {n}: {title}

{summary}

## Setting up

    python -m venv .venv && . .venv/bin/activate      # a fresh environment (Windows: .venv\\Scripts\\activate)
    pip install -e ".[test]"                           # this folder's tinydl, with pytest

## What to write

This copy of tinydl has {stubs} places to write, each between a `BEGIN TASK` line and an
`END TASK` line (keep both lines: the grader finds your code by them). Each place raises
`NotImplementedError` with a hint until you write it, and sits where the formula is written
in the docstring above it. Notebooks with parts to write: {notebooks}. List what is left:

    tinydl assignment todo .

Do the tasks in this order: each one's tests use only the tasks above it.

| # | task (pytest marker) | points | what |
|---|---|---:|---|
{rows}
Total: {total} points, plus {questions} written questions in `answers.md` (graded by hand).

## Checking your work

    python -m pytest -m {first}      # one task's tests
    python -m pytest                 # all of them

`td.gradcheck(fn, *inputs)` checks a backward pass of your own against central differences.
The instructor grades with their own copy of these tests, each task on its own: every other
task gets the instructor's code, so a correct task earns its points whatever else is unfinished.
Editing `tests/` changes nothing in your grade.
"""
