"""Every tutorial notebook runs top to bottom (small-size mode), and is committed without outputs.

Each notebook is executed in a fresh Jupyter kernel (nbclient) with
TINYDL_TUTORIAL_SMALL=1 — the switch every notebook reads to use fewer images
and epochs — in a temporary working folder, so files it writes go there. A
cell that raises fails the test with the cell's source and the error.
"""

import json
import os
import pathlib
import shutil

import pytest

TUTORIALS = pathlib.Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_eleven_tutorials_listed_in_the_readme():
    assert len(NOTEBOOKS) == 11, [p.name for p in NOTEBOOKS]
    readme = (TUTORIALS / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert path.name in readme, f"{path.name} is not listed in tutorials/README.md"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_and_framed(path):
    """Outputs are not committed (readable diffs); the first cell says what you learn, the last gives exercises."""
    cells = _cells(path)
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, (
                f"{path.name}: commit notebooks without outputs (see tutorials/README.md)"
            )
    first = _source(cells[0]).lower()
    assert cells[0]["cell_type"] == "markdown" and "you will learn" in first and "read first" in first
    headings = [
        i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and _source(c).startswith("## Exercises")
    ]
    assert headings, f"{path.name}: end with a '## Exercises' cell (two or three exercises, then their solutions)"


def _execute(path, folder, monkeypatch, data_dir, allow_errors=False):
    """Run notebook ``path`` in small mode in a fresh kernel whose working folder is ``folder``."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("TINYDL_TUTORIAL_SMALL", "1")
    monkeypatch.setenv("TINYDL_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    repo = str(TUTORIALS.parent)
    monkeypatch.setenv("PYTHONPATH", repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    notebook = nbformat.read(str(path), as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(folder)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{str(error)[-4000:]}")
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, data_dir, monkeypatch):
    _execute(path, tmp_path, monkeypatch, data_dir)


def test_tutorials_rely_on_nothing_outside_the_repository():
    """Users of the repository have no ../shared: the article is summarised in docs/article.md."""
    for path in [*NOTEBOOKS, TUTORIALS / "README.md"]:
        text = path.read_text(encoding="utf-8")
        assert "shared/spec" not in text, f"{path.name} points to shared/spec; point to docs/article.md"
    assert (TUTORIALS.parent / "docs" / "article.md").is_file()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_hint_and_a_solution(path):
    """After '## Exercises': each '### Exercise K' cell is followed, before the next one, by a code cell holding
    that exercise's solution between BEGIN SOLUTION exercise / END SOLUTION (with a hint for the students' stub)."""
    from tinydl.assignments import find_regions

    cells = _cells(path)
    start = next(
        i for i, c in enumerate(cells) if c["cell_type"] == "markdown" and _source(c).startswith("## Exercises")
    )
    assert "*Hint:*" in _source(cells[start]), f"{path.name}: the exercises carry a *Hint:* for students"
    sections = [i for i in range(start, len(cells)) if _source(cells[i]).startswith("### Exercise")]
    assert len(sections) >= 2, f"{path.name}: give two or three exercises, each with a '### Exercise K' cell"
    for first, after in zip(sections, [*sections[1:], len(cells)]):
        regions = [
            region
            for cell in cells[first + 1 : after]
            if cell["cell_type"] == "code"
            for region in find_regions(_source(cell).splitlines(keepends=True), path.name)
        ]
        title = _source(cells[first]).splitlines()[0]
        assert regions, f"{path.name}: {title} has no solution between BEGIN SOLUTION exercise and END SOLUTION"
        assert all(region.hint for region in regions), f"{path.name}: {title}: every solution region needs a hint"


def test_students_version_holds_no_solution(tmp_path):
    """`tinydl assignment tutorials` writes every notebook, each solution a stub, no model answer left."""
    from tinydl.assignments.handout import student_tutorials

    regions = sum(_source(c).count("# BEGIN SOLUTION exercise") for path in NOTEBOOKS for c in _cells(path))
    out = tmp_path / "students"
    assert student_tutorials(TUTORIALS, out) == regions
    written = sorted(out.glob("*.ipynb"))
    assert [p.name for p in written] == [p.name for p in NOTEBOOKS]
    stubs = 0
    for path in written:
        text = "".join(_source(c) for c in _cells(path))
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path.name
        assert "**Solution (instructors).**" not in text, path.name
        stubs += text.count("exercise: write this part")
    assert stubs == regions


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_check_cells_fail_on_the_students_version(path, tmp_path, data_dir, monkeypatch):
    """A check cell that passes before the student has written anything checks nothing (e.g. a name the
    notebook defined earlier): in the students' version every '# Check exercise K' cell must raise."""
    from tinydl.assignments.handout import student_tutorials

    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(path, source)
    student_tutorials(source, tmp_path / "students")
    notebook = _execute(tmp_path / "students" / path.name, tmp_path, monkeypatch, data_dir, allow_errors=True)
    checks = [c for c in notebook.cells if c.cell_type == "code" and c.source.lstrip().startswith("# Check exercise")]
    passing = [c.source.splitlines()[0] for c in checks if not any(o.output_type == "error" for o in c.outputs)]
    assert not passing, f"{path.name}: these check cells pass without the student's code: {passing}"
