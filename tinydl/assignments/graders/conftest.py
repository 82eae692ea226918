"""Registers every task's marker when the graders run straight from a clone of tinydl
(``python -m pytest tinydl/assignments/graders/test_assignment2.py``): the instructor's
answer key passes them all. (Hand-outs and the grader write their own pytest.ini.)"""

from tinydl.assignments.catalog import ASSIGNMENTS


def pytest_configure(config):
    for spec in ASSIGNMENTS.values():
        for marker, task in zip(spec.markers(), spec.tasks):
            config.addinivalue_line("markers", f"{marker}: {task.title} ({task.points} points)")
