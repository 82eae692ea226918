"""Course assignments cut out of tinydl itself, and their grader.

Instructors mark the code a student should write, in the library, with a pair of comments
(see :mod:`tinydl.assignments.markers`)::

    # BEGIN SOLUTION assignment=2 task=square_backward hint="d(x²)/dx = 2x: reuse the saved input"
    return grad * 2 * x
    # END SOLUTION

and list the tasks, their points and order in :mod:`tinydl.assignments.catalog`. Then::

    tinydl assignment list                        # the assignments and their tasks
    tinydl assignment make 1 --out hw1            # the hand-out (--solution: the answer key)
    tinydl assignment todo hw1                    # what is left to write, file:line: hint
    tinydl assignment grade hw1                   # results.json (Gradescope) + results.csv
    tinydl assignment tutorials --out notebooks   # the tutorials with the exercises' solutions taken out

The graders' tests live in ``tinydl/assignments/graders/`` (package data, so grading works
from a pip install) and the assignments' notebooks in ``tinydl/assignments/notebooks/``.
"""

import json
import sys
from pathlib import Path

from .catalog import ASSIGNMENTS, Assignment, Task, assignment
from .grading import (
    Report,
    grade,
    gradescope_json,
    read_handout_info,
    results_csv,
    summary,
    todo,
    unanswered,
    write_results,
)
from .handout import check_regions, make, regions_of, student_tutorials
from .markers import EXERCISE, AssignmentError, find_regions, find_task_spans, handout_lines


def _tutorials_folder():
    folder = Path(__file__).resolve().parents[2] / "tutorials"
    if not folder.is_dir():
        raise AssignmentError(
            f"no tutorials/ beside the tinydl package ({folder}): the tutorials are in a git checkout of tinydl; "
            "pass --from FOLDER"
        )
    return folder


def main(args):
    """The ``tinydl assignment`` command (see tinydl/cli.py)."""
    if args.action == "list":
        for n, spec in ASSIGNMENTS.items():
            print(f"{n}. {spec.title} — {spec.points} points: {spec.summary}")
            for i, (marker, task) in enumerate(zip(spec.markers(), spec.tasks), 1):
                print(f"   {i}. {marker:<28} {task.points} points  {task.title}")
            print(f"   + {len(spec.questions)} written questions (graded by the instructor)")
        return 0
    if args.action == "make":
        if args.target is None:
            raise AssignmentError("which assignment? e.g. tinydl assignment make 1 --out hw1")
        n = assignment(args.target).number
        out = args.out or f"assignment{n}"
        stubs = make(n, out, solution=args.solution)
        what = f"the answer key ({stubs} places filled in)" if args.solution else f"{stubs} places to write"
        print(f"Wrote {out}/: assignment {n} with {what}, its tests, answers.md and README.md.")
        if not args.solution:
            print(f"Students: cd {out} && pip install -e '.[test]' && tinydl assignment todo . && python -m pytest")
        return 0
    if args.action == "tutorials":
        source = Path(args.source) if args.source else _tutorials_folder()
        out = args.out or "tutorials-student"
        stubs = student_tutorials(source, out, solution=args.solution)
        print(f"Wrote {out}/: the tutorials with {stubs} exercise solutions taken out")
        return 0
    folder = args.target or "."
    if args.action == "todo":
        left = todo(folder)
        for where, marker, points, hint in left:
            print(f"{where}: {marker} ({points} point{'s' if points != 1 else ''}) — {hint}")
        questions = unanswered(folder)
        if questions:
            print(f"answers.md: questions {', '.join(map(str, questions))} have no answer yet")
        if not left and not questions:
            print("Nothing left to write.")
        return 0
    if args.action == "grade":
        if args.jobs is not None and args.jobs < 1:
            raise AssignmentError(f"--jobs must be a positive number, got {args.jobs}")
        report = grade(folder, jobs=args.jobs)
        kept = write_results(report, folder)
        if args.json:
            print(json.dumps(gradescope_json(report), indent=1, ensure_ascii=False))
            return 0
        print("\n".join(summary(report)))
        print(f"Wrote {Path(folder) / 'results.json'} and results.csv", end="")
        print(f" (the earlier ones are now results-{kept}.*)" if kept else "")
        return 0
    print(f"unknown action {args.action!r}", file=sys.stderr)
    return 2
