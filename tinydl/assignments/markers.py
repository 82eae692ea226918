"""The solution markers in tinydl's source, and what a hand-out makes of them.

Instructors mark the code a student should write with a pair of comments
(``//`` instead of ``#`` in CUDA C files):

    # BEGIN SOLUTION assignment=2 task=square_backward hint="d(x²)/dx = 2x: reuse the saved input"
    return grad * 2 * x
    # END SOLUTION

Three kinds of region:

``assignment=N task=NAME``
    a task of assignment N. In N's hand-out the body becomes a stub between two
    *task markers* the student keeps (the grader finds the student's code by them)::

        # BEGIN TASK a2_square_backward: write your code between this line and END TASK (keep both)
        raise NotImplementedError("task a2_square_backward — hint: d(x²)/dx = 2x: ...")
        # END TASK a2_square_backward

``assignment=N remove``
    code that would answer a task of N (a fast kernel computing the same thing):
    left out of N's hand-out, replaced by one comment line.

``exercise``
    the solution of a tutorial notebook's exercise: a stub in the students'
    version of the notebooks (``tinydl assignment tutorials``).

In every other hand-out (and in the notebooks of other assignments) a region
keeps its code and loses its marker lines.
"""

import re
from dataclasses import dataclass

_BEGIN = re.compile(
    r"^(?P<indent>[ \t]*)(?P<comment>#|//) BEGIN SOLUTION "
    r"(?:assignment=(?P<n>\d+)(?: task=(?P<task>[a-z][a-z0-9_]*)| (?P<remove>remove))?|(?P<exercise>exercise))"
    r"(?: hint=\"(?P<hint>[^\"]*)\")?[ \t]*$"
)
_END = re.compile(r"^[ \t]*(#|//) END SOLUTION[ \t]*$")
_TASK_BEGIN = re.compile(r"^(?P<indent>[ \t]*)(#|//) BEGIN TASK (?P<name>a\d+_[a-z0-9_]+)\b")
_TASK_END = re.compile(r"^[ \t]*(#|//) END TASK (?P<name>a\d+_[a-z0-9_]+)[ \t]*$")

EXERCISE = 0  # the "assignment" of a tutorial exercise's region


class AssignmentError(ValueError):
    """Malformed markers, an unknown assignment or task, or a folder that is not a hand-out."""


@dataclass
class Region:
    """Lines first..last (the two marker lines, 0-based) of one solution region."""

    path: str
    first: int
    last: int
    assignment: int  # EXERCISE for a tutorial exercise
    task: str  # "" for remove and exercise regions
    remove: bool
    hint: str
    indent: str
    comment: str  # "#" or "//"

    @property
    def marker(self):
        """The task's marker name, e.g. ``a1_mul_backward`` (pytest runs it with ``-m a1_mul_backward``)."""
        return task_marker(self.assignment, self.task)


def task_marker(n, task):
    return f"a{n}_{task}"


def find_regions(lines, path="<text>"):
    """The solution regions of a list of source lines; raises AssignmentError on unbalanced or malformed markers."""
    regions, open_region = [], None
    for i, line in enumerate(lines):
        begin = _BEGIN.match(line)
        if begin:
            if open_region is not None:
                raise AssignmentError(
                    f"{path}:{i + 1}: BEGIN SOLUTION inside the region opened at line {open_region.first + 1}"
                )
            n = EXERCISE if begin["exercise"] else int(begin["n"])
            if n != EXERCISE and not begin["task"] and not begin["remove"]:
                raise AssignmentError(f"{path}:{i + 1}: say which task (task=NAME) or that the code goes (remove)")
            open_region = Region(
                path,
                i,
                -1,
                n,
                begin["task"] or "",
                bool(begin["remove"]),
                begin["hint"] or "",
                begin["indent"],
                begin["comment"],
            )
        elif _END.match(line):
            if open_region is None:
                raise AssignmentError(f"{path}:{i + 1}: END SOLUTION without a BEGIN SOLUTION")
            open_region.last = i
            regions.append(open_region)
            open_region = None
        elif line.lstrip().startswith(("# BEGIN SOLUTION", "// BEGIN SOLUTION")):
            raise AssignmentError(
                f"{path}:{i + 1}: malformed marker; write: "
                '# BEGIN SOLUTION assignment=N task=NAME hint="..." (or: assignment=N remove, or: exercise)'
            )
    if open_region is not None:
        raise AssignmentError(f"{path}:{open_region.first + 1}: BEGIN SOLUTION is never closed by END SOLUTION")
    return regions


def stub_message(region):
    """The text of the NotImplementedError a stub raises."""
    what = "exercise" if region.assignment == EXERCISE else f"task {region.marker}"
    return f"{what}: write this part" + (f" — hint: {region.hint}" if region.hint else "")


def _stub(region):
    return f"{region.indent}raise NotImplementedError({stub_message(region)!r})\n"


def task_begin_line(region):
    return (
        f"{region.indent}{region.comment} BEGIN TASK {region.marker}: "
        "write your code between this line and END TASK (keep both lines)\n"
    )


def task_end_line(region):
    return f"{region.indent}{region.comment} END TASK {region.marker}\n"


def handout_lines(lines, n, path="<text>", solution=False):
    """``lines`` as assignment n's hand-out has them (``solution``: with the solutions between the task markers).

    n = EXERCISE gives the students' version of a notebook cell.
    """
    out, regions = [], {r.first: r for r in find_regions(lines, path)}
    i = 0
    while i < len(lines):
        region = regions.get(i)
        if region is None:
            out.append(lines[i])
            i += 1
            continue
        body = lines[region.first + 1 : region.last]
        if region.assignment != n:
            out.extend(body)  # another assignment's code stays, without its markers
        elif region.remove:
            out.append(f"{region.indent}{region.comment} (left out of this hand-out: it would answer a task)\n")
        elif region.assignment == EXERCISE:
            out.extend(body if solution else [_stub(region)])
        else:
            out.append(task_begin_line(region))
            out.extend(body if solution else [_stub(region)])
            out.append(task_end_line(region))
        i = region.last + 1
    return out


@dataclass
class TaskSpan:
    """Where a task's code sits in a hand-out file: between lines begin and end (0-based marker lines)."""

    path: str
    marker: str
    begin: int
    end: int
    indent: str


def find_task_spans(lines, path="<text>"):
    """The BEGIN TASK / END TASK spans of a hand-out file, and a list of problems (broken markers)."""
    spans, problems, open_span = [], [], None
    for i, line in enumerate(lines):
        begin = _TASK_BEGIN.match(line)
        end = _TASK_END.match(line)
        if begin:
            if open_span is not None:
                problems.append(f"{path}:{i + 1}: BEGIN TASK {begin['name']} inside task {open_span.marker}")
            open_span = TaskSpan(path, begin["name"], i, -1, begin["indent"])
        elif end:
            if open_span is None or open_span.marker != end["name"]:
                problems.append(f"{path}:{i + 1}: END TASK {end['name']} without its BEGIN TASK")
                open_span = None
                continue
            open_span.end = i
            spans.append(open_span)
            open_span = None
    if open_span is not None:
        problems.append(f"{path}:{open_span.begin + 1}: BEGIN TASK {open_span.marker} is never closed by END TASK")
    return spans, problems
