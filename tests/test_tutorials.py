"""Every tutorial notebook runs top to bottom (small-size mode), and is committed without outputs.

Each notebook is executed in a fresh Jupyter kernel (nbclient) with
TINYDL_TUTORIAL_SMALL=1 — the switch every notebook reads to use fewer images
and epochs — in a temporary working folder, so files it writes go there. A
cell that raises fails the test with the cell's source and the error.
"""

import json
import os
import pathlib

import pytest

TUTORIALS = pathlib.Path(__file__).resolve().parents[1] / "tutorials"
NOTEBOOKS = sorted(TUTORIALS.glob("[0-9][0-9]_*.ipynb"))


def _cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_ten_tutorials_listed_in_the_readme():
    assert len(NOTEBOOKS) == 10, [p.name for p in NOTEBOOKS]
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, data_dir, monkeypatch):
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
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{str(error)[-4000:]}")
