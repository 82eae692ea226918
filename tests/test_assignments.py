"""Assignments: the hand-out grades 0, the answer key full marks, one task done earns that task's points."""

import csv
import io
import json
import shutil
import subprocess
import sys

import pytest

from tinydl import assignments
from tinydl.assignments import ASSIGNMENTS, AssignmentError, find_regions, find_task_spans, handout_lines
from tinydl.assignments.grading import reference_bodies
from tinydl.assignments.handout import notebook_cells
from tinydl.cli import main


def _read(path):
    """A hand-out file as [(cell index or None, lines)]: one entry for a source file, one per notebook cell."""
    if path.suffix == ".ipynb":
        return list(enumerate(notebook_cells(path)[1]))
    return [(None, path.read_text(encoding="utf-8").splitlines(keepends=True))]


def _handout_files(folder):
    return (
        sorted((folder / "tinydl").rglob("*.py"))
        + sorted((folder / "tinydl").rglob("*.cu"))
        + sorted((folder / "notebooks").glob("*.ipynb"))
    )


def transplant(marker, source, target):
    """Copy task ``marker``'s code (between its BEGIN TASK / END TASK lines) from hand-out ``source`` to ``target``,
    in source files and in notebook cells alike."""
    copied = 0
    for path in _handout_files(source):
        other = target / path.relative_to(source)
        theirs_cells = dict(_read(other))
        changed = False
        for index, lines in _read(path):
            mine = [s for s in find_task_spans(lines)[0] if s.marker == marker]
            if not mine:
                continue
            theirs_lines = theirs_cells[index]
            theirs = [s for s in find_task_spans(theirs_lines)[0] if s.marker == marker]
            for a, b in sorted(zip(mine, theirs), key=lambda pair: -pair[1].begin):
                theirs_lines[b.begin + 1 : b.end] = lines[a.begin + 1 : a.end]
            copied += len(mine)
            changed = True
        if not changed:
            continue
        if other.suffix == ".ipynb":
            notebook = json.loads(other.read_text(encoding="utf-8"))
            for index, lines in theirs_cells.items():
                notebook["cells"][index]["source"] = lines
            other.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            other.write_text("".join(theirs_cells[None]), encoding="utf-8")
    assert copied, f"no code of {marker} in {source}"


def scores(report):
    return {t.marker: t.score for t in report.tasks}


# One task per assignment for the suite; every task in turn is the slow sweep below.
ONE_TASK = {
    1: "a1_mul_backward",
    2: "a2_cross_entropy_gradient",
    3: "a3_conv_backward_weight",
    4: "a4_notebook_training_loop",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Assignment n's hand-out and answer key, made once per n: {n: (handout, key)}."""
    cache = {}

    def get(n):
        if n not in cache:
            root = tmp_path_factory.mktemp(f"a{n}")
            assignments.make(n, root / "handout")
            assignments.make(n, root / "key", solution=True)
            cache[n] = root / "handout", root / "key"
        return cache[n]

    return get


@pytest.fixture(scope="module")
def untouched_report(built):
    """The grade of assignment n's untouched hand-out, graded once per n: {n: Report}."""
    cache = {}

    def get(n):
        if n not in cache:
            cache[n] = assignments.grade(built(n)[0])
        return cache[n]

    return get


@pytest.mark.parametrize("n", sorted(ASSIGNMENTS))
def test_handout_grades_zero_and_answer_key_full_marks(n, built, untouched_report):
    handout, key = built(n)
    spec = ASSIGNMENTS[n]
    untouched = untouched_report(n)
    assert scores(untouched) == dict.fromkeys(spec.markers(), 0), assignments.summary(untouched)
    assert untouched.notes == [], untouched.notes
    full = assignments.grade(key)
    assert scores(full) == {m: t.points for m, t in zip(spec.markers(), spec.tasks)}, assignments.summary(full)
    assert full.score == full.max_score == spec.points


# One assignment in the quick suite (each grading is a whole run of the instructor's tests); the others,
# and every task of every assignment, under `slow`.
@pytest.mark.parametrize("n", [n if n == 1 else pytest.param(n, marks=pytest.mark.slow) for n in sorted(ASSIGNMENTS)])
def test_one_task_done_earns_exactly_its_points(n, built, tmp_path):
    handout, key = built(n)
    spec = ASSIGNMENTS[n]
    work = tmp_path / "submission"
    shutil.copytree(handout, work)
    marker = ONE_TASK[n]
    transplant(marker, key, work)
    report = assignments.grade(work)
    points = {m: t.points for m, t in zip(spec.markers(), spec.tasks)}
    expected = {m: (points[m] if m == marker else 0) for m in spec.markers()}
    assert scores(report) == expected, assignments.summary(report)


@pytest.mark.slow
@pytest.mark.parametrize(
    "n, marker", [(n, m) for n in sorted(ASSIGNMENTS) for m in ASSIGNMENTS[n].markers()], ids=lambda v: str(v)
)
def test_every_task_alone_earns_exactly_its_points(n, marker, built, tmp_path):
    handout, key = built(n)
    spec = ASSIGNMENTS[n]
    work = tmp_path / "submission"
    shutil.copytree(handout, work)
    transplant(marker, key, work)
    report = assignments.grade(work)
    points = {m: t.points for m, t in zip(spec.markers(), spec.tasks)}
    assert scores(report) == {m: (points[m] if m == marker else 0) for m in spec.markers()}, assignments.summary(report)


# Lines a solution shares with code that answers nothing: the guards every backward pass has.
GENERIC_LINES = {"if ctx.needs_input_grad[0]:", "if ctx.needs_input_grad[1]:"}


def _code_lines(lines):
    """The lines of ``lines`` that are code, whitespace-normalised: no blanks, comments or ``raise NotImplementedError``."""
    out = []
    for number, line in enumerate(lines, 1):
        text = " ".join(line.split())
        if len(text) < 8 or text in GENERIC_LINES or text.startswith(("raise NotImplementedError", "#", "//")):
            continue
        out.append((number, text))
    return out


def _runs(texts, length):
    return [tuple(texts[i : i + length]) for i in range(len(texts) - length + 1)]


@pytest.mark.parametrize("n", sorted(ASSIGNMENTS))
def test_handout_holds_no_copy_of_a_solution(n, built):
    """No run of three consecutive code lines of the instructor's code for a task (the whole body, if shorter) is
    anywhere in the hand-out. Single lines are not enough: ``for n in range(n_images):`` is in the answer and in
    code the hand-out rightly keeps."""
    handout, _ = built(n)
    solution_runs = {}
    for marker, bodies in reference_bodies(n).items():
        for body in bodies:
            texts = [text for _, text in _code_lines(body)]
            if not texts:
                continue
            length = min(3, len(texts))
            if length == 1 and len(texts[0]) < 24:
                continue  # a one-line answer as short as ``return grad * y`` is too common to be a copy
            for run in _runs(texts, length):
                solution_runs[run] = marker
    assert solution_runs, "the reference has solution code"
    found = []
    for path in _handout_files(handout):
        for index, lines in _read(path):
            code = _code_lines(lines)
            texts = [text for _, text in code]
            for length in {len(run) for run in solution_runs}:
                for start, run in enumerate(_runs(texts, length)):
                    if run in solution_runs:
                        where = f"{path.relative_to(handout)}" + (f" cell {index + 1}" if index is not None else "")
                        found.append(f"{where}:{code[start][0]}: {' / '.join(run)}  (task {solution_runs[run]})")
    assert not found, "solution code left in the hand-out:\n" + "\n".join(found)


def _run_in(folder, code):
    """Run ``code`` in a fresh Python that imports the hand-out's tinydl; returns its stdout."""
    prelude = f"import sys; sys.path.insert(0, {str(folder)!r}); import tinydl; "
    result = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_handout3_has_only_the_loops_to_write(built):
    """The fast convolution and pooling kernels would answer assignment 3: its hand-out registers only the loops."""
    handout, _ = built(3)
    out = _run_in(
        handout,
        "from tinydl.ops import conv; print(tinydl.kernels.registered('conv2d'), tinydl.kernels.registered('maxpool2d'),"
        " tinydl.kernels.registered('conv3d'), tinydl.kernels.registered('maxpool3d'), hasattr(conv, 'DilatedMaxPool2d'))",
    )
    # conv3d on a depth-1 volume would be a conv2d, and the dilated max pool (xp) a working max pool
    assert out.split() == ["['reference']", "['reference']", "[]", "[]", "False"], out


def test_handout2_has_no_fused_optimiser(built):
    """The fused Adam/SGD kernels would answer assignment 2: its hand-out has none (fused=True is refused)."""
    handout, _ = built(2)
    code = (
        "import numpy as np; p = tinydl.tensor(np.ones(4, np.float32), requires_grad=True); "
        "p.grad = tinydl.tensor(np.ones(4, np.float32)); opt = tinydl.optim.Adam([p], fused=True)\n"
        "try:\n    opt.step(); print('fused')\nexcept (ValueError, NotImplementedError) as e:\n    print('refused')"
    )
    assert _run_in(handout, code).strip() == "refused"


def test_results_files(built, untouched_report, tmp_path):
    handout, _ = built(1)
    work = tmp_path / "submission"
    shutil.copytree(handout, work)
    report = untouched_report(1)
    assert assignments.write_results(report, work) is None
    results = json.loads((work / "results.json").read_text())
    check_gradescope_schema(results)
    assert results["score"] == report.score == 0
    rows = list(csv.DictReader(io.StringIO((work / "results.csv").read_text())))
    assert [r["task"] for r in rows] == ASSIGNMENTS[1].markers()
    assert {r["max_score"] for r in rows} == {str(t.points) for t in ASSIGNMENTS[1].tasks}
    questions = [t for t in results["tests"] if t["max_score"] == 0]
    assert len(questions) == len(ASSIGNMENTS[1].questions), "written questions are entries with max_score 0"
    assert assignments.write_results(report, work) == 1  # the earlier results are kept, not overwritten
    assert (work / "results-1.json").is_file() and (work / "results-1.csv").is_file()


def check_gradescope_schema(results):
    """Gradescope's autograder results.json (its documented format): top-level score or per-test scores,
    optional execution_time, output, visibility, stdout_visibility, tests[] with name, score, max_score,
    status, number, output, visibility."""
    visibility = {"hidden", "after_due_date", "after_published", "visible"}
    allowed = {
        "score",
        "execution_time",
        "output",
        "output_format",
        "visibility",
        "stdout_visibility",
        "tests",
        "extra_data",
        "leaderboard",
        "test_output_format",
        "test_name_format",
    }
    assert set(results) <= allowed, set(results) - allowed
    assert isinstance(results["score"], (int, float))
    assert isinstance(results["execution_time"], int) and results["execution_time"] >= 0
    assert isinstance(results["output"], str)
    assert results["visibility"] in visibility and results["stdout_visibility"] in visibility
    test_keys = {
        "score",
        "max_score",
        "status",
        "name",
        "name_format",
        "number",
        "output",
        "output_format",
        "tags",
        "visibility",
        "extra_data",
    }
    assert results["tests"]
    for test in results["tests"]:
        assert set(test) <= test_keys, set(test) - test_keys
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"] or test["max_score"] == 0
        assert test.get("status", "passed") in {"passed", "failed"}
        assert isinstance(test.get("number", ""), str)
    total = sum(t["score"] for t in results["tests"])
    assert results["score"] == pytest.approx(total)


def test_grade_json_on_the_command_line(built, tmp_path, capsys):
    handout, key = built(4)
    work = tmp_path / "submission"
    shutil.copytree(key, work)
    assert main(["assignment", "grade", str(work), "--json", "--jobs", "2"]) == 0
    results = json.loads(capsys.readouterr().out)
    check_gradescope_schema(results)
    assert results["score"] == ASSIGNMENTS[4].points
    assert main(["assignment", "grade", str(work), "--jobs", "0"]) == 1
    assert "--jobs" in capsys.readouterr().err


@pytest.mark.parametrize("n", sorted(ASSIGNMENTS))
def test_every_assignment_builds_with_every_task_marked(n, tmp_path):
    assert assignments.make(n, tmp_path / "hw") >= len(ASSIGNMENTS[n].tasks)
    left = {marker for _, marker, _, _ in assignments.todo(tmp_path / "hw")}
    assert left == set(ASSIGNMENTS[n].markers())


def test_markers_are_checked():
    good = [
        "x = 1\n",
        '    # BEGIN SOLUTION assignment=2 task=add hint="add them"\n',
        "    y = a + b\n",
        "    # END SOLUTION\n",
    ]
    out = handout_lines(good, 2)
    assert "BEGIN TASK a2_add" in out[1] and "NotImplementedError" in out[2] and "END TASK a2_add" in out[3]
    assert handout_lines(good, 1) == ["x = 1\n", "    y = a + b\n"]
    with pytest.raises(AssignmentError, match="never closed"):
        find_regions(good[:3], "f.py")
    with pytest.raises(AssignmentError, match="without a BEGIN"):
        find_regions(["# END SOLUTION\n"], "f.py")
    with pytest.raises(AssignmentError, match="malformed"):
        find_regions(["# BEGIN SOLUTION for assignment 1\n"])


def test_list_and_errors(capsys, tmp_path):
    assert main(["assignment", "list"]) == 0
    text = capsys.readouterr().out
    assert all(spec.title in text for spec in ASSIGNMENTS.values())
    assert main(["assignment", "make", "7", "--out", str(tmp_path / "x")]) == 1
    assert "unknown assignment 7" in capsys.readouterr().err
    assert main(["assignment", "grade", str(tmp_path)]) == 1
    assert "no assignment.json" in capsys.readouterr().err
