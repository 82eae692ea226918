"""``tinydl assignment grade DIR`` and ``tinydl assignment todo DIR``.

Grading a submission (a hand-out folder a student worked in), task by task:

1. copy the submission's ``tinydl/`` and ``notebooks/`` into a scratch folder;
2. for each task T, write there the student's code for T and, for every other
   task, the instructor's code (from this installed tinydl's solution regions),
   each between its BEGIN TASK / END TASK lines;
3. run the instructor's tests of T (shipped in this package, not the student's
   copy in ``tests/``) in a fresh Python process that imports the scratch
   folder's tinydl, never the installed one;
4. score T as points × passed tests / its tests.

So a correct function earns its points whatever else is still a stub, and a
wrong one costs only its own. The results go into the submission folder as
``results.json`` (Gradescope's format) and ``results.csv`` (one row per task).
"""

import ast
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .._version import __version__
from .catalog import assignment
from .handout import GRADERS, PACKAGE, check_regions, notebook_cells, package_sources
from .markers import AssignmentError, find_task_spans

TASK_TIMEOUT_S = 300  # per task: a student's endless loop costs that task only


@dataclass
class TaskResult:
    marker: str
    title: str
    max_score: int
    passed: int = 0
    total: int = 0
    output: str = ""

    @property
    def score(self):
        return round(self.max_score * self.passed / self.total, 2) if self.total else 0.0


@dataclass
class Report:
    number: int
    tasks: list
    questions: list  # (question, answer) pairs
    notes: list = field(default_factory=list)  # lines about the submission as a whole
    seconds: float = 0.0

    @property
    def score(self):
        return round(sum(t.score for t in self.tasks), 2)

    @property
    def max_score(self):
        return sum(t.max_score for t in self.tasks)


# ---------------------------------------------------------------------------- reading a hand-out
def read_handout_info(folder):
    """assignment.json of a hand-out folder (which assignment it is), with clear errors."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AssignmentError(f"{folder} is not a folder")
    path = folder / "assignment.json"
    if not path.is_file():
        raise AssignmentError(
            f"{folder} is not an assignment hand-out: it has no assignment.json (written by tinydl assignment make)"
        )
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        number = int(info["assignment"])
    except (ValueError, KeyError, TypeError) as error:
        raise AssignmentError(f"{path} is not readable as a hand-out's assignment.json: {error}") from None
    assignment(number)  # a known one
    return info


def _source_files(root):
    """The hand-out's files that may hold task markers: tinydl/**/*.py|.cu and notebooks/*.ipynb."""
    files = package_sources(root / "tinydl")  # tinydl/assignments/ excepted: its docstrings show markers
    return files + sorted((root / "notebooks").glob("*.ipynb"))


def _task_spans(path):
    """[(cell index or None, TaskSpan)], problems — for a source file or a notebook."""
    if path.suffix == ".ipynb":
        spans, problems = [], []
        for index, source in enumerate(notebook_cells(path)[1]):
            found, broken = find_task_spans(source, f"{path.name} cell {index + 1}")
            spans += [(index, s) for s in found]
            problems += broken
        return spans, problems
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    found, problems = find_task_spans(lines, str(path))
    return [(None, s) for s in found], problems


# ---------------------------------------------------------------------------- todo
def todo(folder):
    """Every place still to write in a hand-out: [(where, marker, points, hint)], in the order of the tasks."""
    folder = Path(folder)
    spec = assignment(read_handout_info(folder)["assignment"])
    order = {m: i for i, m in enumerate(spec.markers())}
    left = []
    for path in _source_files(folder):
        if path.suffix == ".ipynb":
            cells = notebook_cells(path)[1]
        else:
            cells = [path.read_text(encoding="utf-8").splitlines(keepends=True)]
        for index, lines in enumerate(cells):
            spans, _ = find_task_spans(lines, str(path))
            for span in spans:
                for offset, line in enumerate(lines[span.begin + 1 : span.end], span.begin + 2):
                    hint = _stub_hint(line, span.marker)
                    if hint is not None:
                        where = f"{path.relative_to(folder)}:{offset}"
                        if path.suffix == ".ipynb":
                            where = f"{path.relative_to(folder)} cell {index + 1} line {offset}"
                        left.append((where, span.marker, _points(spec, span.marker), hint))
                        break
    left.sort(key=lambda item: order.get(item[1], len(order)))
    return left


def _points(spec, marker):
    return next((t.points for m, t in zip(spec.markers(), spec.tasks) if m == marker), 0)


def _stub_hint(line, marker):
    """The hint of a ``raise NotImplementedError("task MARKER ...")`` line, or None for any other line."""
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Raise):
        return None
    call = tree.body[0].exc
    if not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "NotImplementedError" and call.args):
        return None
    message = call.args[0]
    if not (isinstance(message, ast.Constant) and isinstance(message.value, str) and marker in message.value):
        return None
    return message.value.partition("hint: ")[2] or message.value


def unanswered(folder):
    """The written questions of a hand-out with no answer yet (numbers)."""
    folder = Path(folder)
    spec = assignment(read_handout_info(folder)["assignment"])
    answers = read_answers(folder / "answers.md", len(spec.questions))
    return [i for i, (text, _) in enumerate(answers, 1) if not text]


def read_answers(path, count):
    """[(answer text, note)] for questions 1..count of an answers.md (empty text where none)."""
    if not Path(path).is_file():
        return [("", "answers.md is missing")] * count
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    sections = re.split(r"^## Question (\d+)[ \t]*$", text, flags=re.MULTILINE)
    found = {}
    for number, body in zip(sections[1::2], sections[2::2]):
        _, marker, answer = body.partition("Your answer:")
        found[int(number)] = answer.strip() if marker else body.strip()
    return [(found.get(i, ""), "" if i in found else f"no '## Question {i}' heading") for i in range(1, count + 1)]


# ---------------------------------------------------------------------------- grading
def reference_bodies(n, package=PACKAGE):
    """{marker: body lines} of assignment n's tasks, from this installed tinydl's solution regions."""
    found = check_regions(n, package)
    if not found:
        raise AssignmentError(
            f"the tinydl at {package} has no solution regions of assignment {n}: it is itself a hand-out. "
            "Grading needs the full tinydl (pip install tinydl); in a hand-out, run its tests: python -m pytest"
        )
    bodies = {}
    for _, lines, region in found:  # in file order: a task with two regions has two bodies, in order
        if not region.remove:
            bodies.setdefault(region.marker, []).append(lines[region.first + 1 : region.last])
    return bodies


def _write_hybrid(scratch, files, marker, student, reference):
    """Rewrite the scratch copy so that task ``marker`` is the student's code and every other task the reference."""
    for path, spans in files.items():
        if path.suffix == ".ipynb":
            notebook, cells = notebook_cells(path)
            for index, cell in enumerate(notebook["cells"]):
                cell_spans = [s for i, s in spans if i == index]
                if cell_spans:
                    cell["source"] = _splice(cells[index], cell_spans, marker, student, reference)
            target = scratch / path.relative_to(student.root)
            target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            target = scratch / path.relative_to(student.root)
            target.write_text("".join(_splice(lines, [s for _, s in spans], marker, student, reference)), "utf-8")


def _splice(lines, spans, marker, student, reference):
    """``lines`` with every task span but ``marker``'s holding the reference body (the k-th span of a task
    the task's k-th body)."""
    out, start, seen = [], 0, {}
    for span in sorted(spans, key=lambda s: s.begin):
        out.extend(lines[start : span.begin + 1])
        body = lines[span.begin + 1 : span.end]
        k = seen[span.marker] = seen.get(span.marker, -1) + 1
        if span.marker != marker and k < len(reference.get(span.marker, ())):
            body = reference[span.marker][k]
        out.extend(body)
        start = span.end
    out.extend(lines[start:])
    return out


@dataclass
class _Submission:
    root: Path
    files: dict  # path -> [(cell index or None, TaskSpan)]
    markers: set


def _scan_submission(root, spec, notes):
    files, markers = {}, set()
    for path in _source_files(root):
        spans, problems = _task_spans(path)
        notes.extend(f"broken task markers: {p}" for p in problems)
        if spans:
            files[path] = spans
            markers.update(s.marker for _, s in spans)
    for marker in spec.markers():
        if marker not in markers:
            notes.append(
                f"task {marker}: its BEGIN TASK / END TASK lines are missing, so its code cannot be told apart: "
                "it is graded as the file stands, and the other tasks are graded with the student's code for it"
            )
    return _Submission(root, files, markers)


def _import_check(folder):
    """None if the folder's tinydl imports (from that folder), else the error to report."""
    code = (
        "import sys, pathlib; sys.path.insert(0, sys.argv[1]); import tinydl; "
        "here = pathlib.Path(sys.argv[1]).resolve(); "
        "assert here in pathlib.Path(tinydl.__file__).resolve().parents, tinydl.__file__"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=TASK_TIMEOUT_S
    )
    if result.returncode == 0:
        return None
    return (result.stderr.strip().splitlines() or ["(no message)"])[-1]


def _edited_tests(root, n):
    mine = root / "tests" / f"test_assignment{n}.py"
    shipped = GRADERS / f"test_assignment{n}.py"
    if not mine.is_file():
        return None
    if mine.read_bytes() != shipped.read_bytes():
        return (
            f"tests/test_assignment{n}.py differs from the instructor's tests (edited, or from another tinydl "
            "version); it was not used: grading runs the instructor's own copy"
        )
    return None


def grade(folder, timeout=TASK_TIMEOUT_S, package=PACKAGE, jobs=None):
    """Grade the submission in ``folder`` task by task; returns a Report (nothing is written).

    ``jobs``: how many tasks' test processes run at once (default: one per CPU core).
    ``timeout``: seconds per task; a task that takes longer gets no points."""
    started = time.monotonic()
    root = Path(folder).resolve()
    info = read_handout_info(root)
    spec = assignment(info["assignment"])
    n = spec.number
    reference = reference_bodies(n, package)
    notes = []
    if info.get("tinydl_version") != __version__:
        notes.append(
            f"the hand-out was made by tinydl {info.get('tinydl_version')}, the grader is tinydl {__version__}: "
            "the instructor's code for the other tasks may not fit the submission"
        )
    edited = _edited_tests(root, n)
    if edited:
        notes.append(edited)
    if not (root / "tinydl").is_dir():
        raise AssignmentError(f"{root} has no tinydl/ folder: nothing to grade")
    submission = _scan_submission(root, spec, notes)
    answers = read_answers(root / "answers.md", len(spec.questions))
    questions = [
        (q, text or f"(no answer{': ' + note if note else ''})") for q, (text, note) in zip(spec.questions, answers)
    ]
    results = [TaskResult(m, t.title, t.points) for m, t in zip(spec.markers(), spec.tasks)]

    with tempfile.TemporaryDirectory(prefix="tinydl-grade-") as scratch_name:
        scratch = Path(scratch_name)
        code = scratch / "submission"
        shutil.copytree(root / "tinydl", code / "tinydl", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if (root / "notebooks").is_dir():
            shutil.copytree(root / "notebooks", code / "notebooks")
        import_error = _import_check(code)
        if import_error:
            notes.append(f"the submission's tinydl does not import: {import_error}")
        tests = scratch / "tests"
        tests.mkdir()
        shutil.copy(GRADERS / f"test_assignment{n}.py", tests)
        shutil.copy(GRADERS / "grader_tools.py", tests)
        (tests / "conftest.py").write_text(_GRADER_CONFTEST, encoding="utf-8")
        markers = "".join(f"    {m}: task\n" for m in spec.markers())
        (tests / "pytest.ini").write_text(f"[pytest]\nmarkers =\n{markers}", encoding="utf-8")

        def grade_task(result):
            # each task gets its own copy of the submission (the hybrid for that task), so tasks can run at once
            hybrid = scratch / f"task-{result.marker}"
            shutil.copytree(code, hybrid)
            _write_hybrid(hybrid, submission.files, result.marker, submission, reference)
            _run_task(result, tests, hybrid, n, timeout)

        workers = max(1, min(jobs or os.cpu_count() or 1, len(results)))
        with ThreadPoolExecutor(max_workers=workers) as pool:  # threads only wait: each task is a process
            list(pool.map(grade_task, results))
    report = Report(n, results, questions, notes)
    report.seconds = time.monotonic() - started
    return report


def _run_task(result, tests, code, n, timeout):
    xml = tests / f"{result.marker}.xml"
    env = dict(os.environ, TINYDL_GRADE_SUBMISSION=str(code), PYTHONPATH=str(code), PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", result.marker]
    command += ["--junitxml", str(xml), "-o", "junit_family=xunit1", f"test_assignment{n}.py"]
    try:
        run = subprocess.run(command, cwd=tests, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        result.output = f"timed out after {timeout} s (an endless loop?): no points"
        result.total = max(result.total, 1)
        return
    if not xml.is_file():
        result.total = 1
        result.output = "the tests could not run:\n" + (run.stdout + run.stderr)[-3000:]
        return
    lines = []
    for case in ElementTree.parse(xml).getroot().iter("testcase"):
        result.total += 1
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None and case.find("skipped") is None:
            result.passed += 1
            lines.append(f"passed  {case.get('name')}")
        else:
            message = (problem.get("message") if problem is not None else "skipped") or ""
            lines.append(f"FAILED  {case.get('name')}: {_short(message)}")
    if result.total == 0:
        result.total = 1
        lines.append("no test of this task ran:\n" + (run.stdout + run.stderr)[-2000:])
    result.output = "\n".join(lines)


def _short(message, limit=400):
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 1] + "…"


# ---------------------------------------------------------------------------- results files
def gradescope_json(report):
    """The report in Gradescope's results.json format (autograder specification)."""
    tests = [
        {
            "name": f"{t.marker}: {t.title}",
            "number": str(i),
            "score": t.score,
            "max_score": t.max_score,
            "status": "passed" if t.total and t.passed == t.total else "failed",
            "output": t.output,
        }
        for i, t in enumerate(report.tasks, 1)
    ]
    offset = len(tests)
    for i, (question, answer) in enumerate(report.questions, 1):
        tests.append(
            {
                "name": f"Question {i} (graded by the instructor)",
                "number": str(offset + i),
                "score": 0,
                "max_score": 0,
                "output": f"{question}\n\nAnswer:\n{answer}",
            }
        )
    output = f"Assignment {report.number}: {report.score} / {report.max_score} points from the autograder."
    if report.notes:
        output += "\n" + "\n".join(f"Note: {note}" for note in report.notes)
    return {
        "score": report.score,
        "execution_time": int(round(report.seconds)),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def results_csv(report):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["task", "title", "score", "max_score", "tests_passed", "tests"])
    for t in report.tasks:
        writer.writerow([t.marker, t.title, t.score, t.max_score, t.passed, t.total])
    return out.getvalue()


def write_results(report, folder):
    """Write results.json and results.csv into ``folder``; earlier ones are kept as results-K.* (never lost)."""
    folder = Path(folder)
    kept = None
    if (folder / "results.json").exists() or (folder / "results.csv").exists():
        k = 1
        while (folder / f"results-{k}.json").exists() or (folder / f"results-{k}.csv").exists():
            k += 1
        for suffix in (".json", ".csv"):
            if (folder / f"results{suffix}").exists():
                (folder / f"results{suffix}").rename(folder / f"results-{k}{suffix}")
        kept = k
    (folder / "results.json").write_text(
        json.dumps(gradescope_json(report), indent=1, ensure_ascii=False) + "\n", "utf-8"
    )
    (folder / "results.csv").write_text(results_csv(report), encoding="utf-8")
    return kept


def summary(report):
    """The report as lines for a terminal."""
    lines = [f"Assignment {report.number}: {report.score:g} / {report.max_score} points"]
    for t in report.tasks:
        lines.append(f"  {t.score:5g} / {t.max_score:<2} {t.marker}  ({t.passed}/{t.total} tests)")
    for note in report.notes:
        lines.append(f"  note: {note}")
    return lines


_GRADER_CONFTEST = '''"""Grading: the submission's tinydl (TINYDL_GRADE_SUBMISSION) is imported, never an installed one."""

import os
import pathlib
import sys

SUBMISSION = pathlib.Path(os.environ["TINYDL_GRADE_SUBMISSION"]).resolve()
sys.path.insert(0, str(SUBMISSION))

import tinydl  # noqa: E402

if SUBMISSION not in pathlib.Path(tinydl.__file__).resolve().parents:
    raise ImportError(f"grading imported tinydl from {tinydl.__file__}, not from the submission {SUBMISSION}")
'''
