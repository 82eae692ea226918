"""`tinydl assignment make N`: each student version's autograder fails on the stubs and passes on the solution."""

import json
import subprocess
import sys

import pytest

from tinydl import assignments
from tinydl.assignments import ASSIGNMENTS, AssignmentError, find_regions, student_lines
from tinydl.cli import main


def run_autograder(folder, n):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", f"assignment{n}", "-q", "-p", "no:cacheprovider", "--tb=line"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("n", sorted(ASSIGNMENTS))
def test_student_version_fails_and_solution_passes(n, tmp_path):
    student, solution = tmp_path / "student", tmp_path / "solution"
    assert main(["assignment", "make", str(n), "--out", str(student)]) == 0
    assert main(["assignment", "make", str(n), "--out", str(solution), "--solution"]) == 0
    stubbed = [p for p in (student / "tinydl").rglob("*.py") if f"NotImplementedError('assignment {n}" in p.read_text()]
    assert stubbed, "the student version has no stubs"
    for folder in (student, solution):  # no marker survives in what students get
        assert not [
            p
            for p in (folder / "tinydl").rglob("*.py")
            if p.name != "assignments.py" and "BEGIN SOLUTION" in p.read_text()
        ]
    code, output = run_autograder(student, n)
    assert code == 1, output[-3000:]
    assert " passed" not in output.splitlines()[-1] or "failed" in output.splitlines()[-1], output[-2000:]
    code, output = run_autograder(solution, n)
    assert code == 0, output[-3000:]
    assert "NotImplementedError" not in output


def test_every_autograder_test_fails_on_the_stubs(tmp_path):
    """Not one test of assignment 1 can pass without the student's code (no test that cannot fail)."""
    assignments.make(1, tmp_path / "a1")
    code, output = run_autograder(tmp_path / "a1", 1)
    summary = output.strip().splitlines()[-1]
    assert code == 1 and "passed" not in summary, summary


def test_markers_are_checked():
    good = ["x = 1\n", '    # BEGIN SOLUTION assignment=2 hint="add them"\n', "    y = a + b\n", "    # END SOLUTION\n"]
    out = student_lines(good, 2)
    assert out[1] == "    raise NotImplementedError('assignment 2 (<text>:3): write this part — hint: add them')\n"
    assert student_lines(good, 1) == ["x = 1\n", "    y = a + b\n"]
    with pytest.raises(AssignmentError, match="never closed"):
        find_regions(good[:3], "f.py")
    with pytest.raises(AssignmentError, match="without a BEGIN"):
        find_regions(["# END SOLUTION\n"], "f.py")
    with pytest.raises(AssignmentError, match="unknown assignment 9"):
        find_regions(["# BEGIN SOLUTION assignment=9\n", "# END SOLUTION\n"])
    with pytest.raises(AssignmentError, match="malformed"):
        find_regions(["# BEGIN SOLUTION for assignment 1\n"])


def test_notebook_regions_are_stubbed(tmp_path):
    root = tmp_path / "repo"
    (root / "tinydl").mkdir(parents=True)
    (root / "tinydl" / "__init__.py").write_text("")
    (root / "tests" / "assignments").mkdir(parents=True)
    (root / "tests" / "assignments" / "test_assignment4.py").write_text("")
    (root / "tutorials").mkdir()
    cell = {
        "cell_type": "code",
        "metadata": {},
        "outputs": [],
        "execution_count": None,
        "source": ['# BEGIN SOLUTION assignment=4 hint="call backward"\n', "loss.backward()\n", "# END SOLUTION\n"],
    }
    (root / "tutorials" / "06_x.ipynb").write_text(
        json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )
    assert assignments.make(4, tmp_path / "out", root=root) == 1
    notebook = json.loads((tmp_path / "out" / "notebooks" / "06_x.ipynb").read_text())
    assert "NotImplementedError" in "".join(notebook["cells"][0]["source"])


def test_list_and_errors(capsys, tmp_path):
    assert main(["assignment", "list"]) == 0
    text = capsys.readouterr().out
    assert all(title in text for title, _ in ASSIGNMENTS.values())
    assert main(["assignment", "make", "7", "--out", str(tmp_path / "x")]) == 1
    assert "unknown assignment 7" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("")
    assert main(["assignment", "make", "1", "--out", str(tmp_path / "full")]) == 1
    assert "not empty" in capsys.readouterr().err
