"""Assignments: the hand-out grades 0, the answer key full marks, one task done earns that task's points."""

import json

import pytest

from tinydl import assignments
from tinydl.assignments import ASSIGNMENTS, AssignmentError, find_regions, handout_lines
from tinydl.cli import main


def transplant(marker, source, target):
    """Copy task ``marker``'s code from the hand-out folder ``source`` into the hand-out folder ``target``."""
    for path in sorted((source / "tinydl").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        spans, _ = assignments.find_task_spans(lines)
        mine = [s for s in spans if s.marker == marker]
        if not mine:
            continue
        other = target / path.relative_to(source)
        theirs_lines = other.read_text(encoding="utf-8").splitlines(keepends=True)
        theirs = [s for s in assignments.find_task_spans(theirs_lines)[0] if s.marker == marker]
        for a, b in sorted(zip(mine, theirs), key=lambda pair: -pair[1].begin):
            theirs_lines[b.begin + 1 : b.end] = lines[a.begin + 1 : a.end]
        other.write_text("".join(theirs_lines), encoding="utf-8")


def test_assignment1_handout_solution_and_one_task(tmp_path):
    handout, key = tmp_path / "hw1", tmp_path / "key1"
    assignments.make(1, handout)
    assignments.make(1, key, solution=True)
    assert assignments.grade(handout).score == 0
    full = assignments.grade(key)
    assert full.score == full.max_score == ASSIGNMENTS[1].points
    transplant("a1_mul_backward", key, handout)
    report = assignments.grade(handout)
    assert report.score == ASSIGNMENTS[1].task("mul_backward").points, assignments.summary(report)
    kept = assignments.write_results(report, handout)
    assert kept is None
    results = json.loads((handout / "results.json").read_text())
    assert results["score"] == report.score and all("max_score" in t for t in results["tests"])
    assert len((handout / "results.csv").read_text().splitlines()) == 1 + len(ASSIGNMENTS[1].tasks)
    assert assignments.write_results(report, handout) == 1  # the earlier results are kept, not overwritten


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
