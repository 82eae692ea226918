"""tinydl.viz: the graph walk, DOT text, and pictures drawn with matplotlib alone."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import tinydl as td
from tinydl import viz

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def small_graph():
    """loss = relu(x @ W + b).sum(): 4 operations, 7 tensors, 10 edges."""
    x = td.tensor(np.arange(6.0).reshape(2, 3), dtype=td.float32)
    x.name = "x"
    W = td.tensor(np.ones((3, 4)), dtype=td.float32, requires_grad=True)
    W.name = "W"
    b = td.zeros(4, requires_grad=True)
    b.name = "b"
    loss = ((x @ W + b).relu()).sum()
    return loss, x, W, b


def chain(length):
    """A graph `length` operations deep: t ← tanh(t), t ← t * 1.01, alternately."""
    t = td.tensor([0.5], requires_grad=True)
    for i in range(length):
        t = t * 1.01 if i % 2 else t.tanh()
    return t


def run_python(code):
    """Run ``code`` in a fresh interpreter that imports this checkout's tinydl."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


# ------------------------------------------------------------------- graph_of
def test_graph_of_small_graph_has_every_tensor_operation_and_edge():
    loss, x, W, b = small_graph()
    graph = viz.graph_of(loss)
    operations = [node.label for node in graph.nodes if node.is_operation]
    assert operations == ["MatMul", "Add", "ReLU", "Sum"]  # in the order they were applied
    assert len(graph.nodes) == 4 + 7
    assert len(graph.edges) == 10
    # Topological order: every edge goes from an earlier node to a later one; the output is last.
    assert all(source < target for source, target in graph.edges)
    assert graph.root == len(graph.nodes) - 1 and graph.nodes[graph.root].obj is loss


def test_graph_of_tells_parameters_constants_and_intermediates_apart():
    loss, x, W, b = small_graph()
    graph = viz.graph_of(loss)
    kind_of = {id(node.obj): node.kind for node in graph.nodes if not node.is_operation}
    assert kind_of[id(W)] == kind_of[id(b)] == viz.PARAMETER
    assert kind_of[id(x)] == viz.CONSTANT
    assert kind_of[id(loss)] == viz.OUTPUT
    assert sum(kind == viz.INTERMEDIATE for kind in kind_of.values()) == 3


def test_tensor_labels_show_name_shape_and_dtype():
    loss, *_ = small_graph()
    labels = [node.label for node in viz.graph_of(loss).nodes]
    assert "W\n(3, 4) float32" in labels
    assert "b\n(4,) float32" in labels
    assert "scalar float32" in labels  # the loss
    constant = viz.graph_of(td.tensor([1.0, 2.0], requires_grad=True) * 2.5)
    assert "2.5\nscalar float32" in [node.label for node in constant.nodes]  # a constant number shows its value


def test_params_argument_names_a_models_weights():
    td.manual_seed(0)
    model = td.nn.Sequential(td.nn.Linear(2, 3), td.nn.ReLU(), td.nn.Linear(3, 1))
    out = model(td.randn(5, 2)).sum()
    for params in (dict(model.named_parameters()), model.named_parameters()):
        dot = viz.to_dot(out, params=params)
        for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
            assert name in dot


def test_an_input_used_twice_gives_two_edges():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    graph = viz.graph_of(x * x)
    mul = next(node.index for node in graph.nodes if node.label == "Mul")
    assert graph.edges.count((0, mul)) == 2
    assert viz.to_dot(x * x).count(f"n0 -> n{mul};") == 2


def test_a_freed_graph_is_reported_not_drawn_as_a_single_node():
    loss, *_ = small_graph()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        viz.graph_of(loss)
    kept, *_ = small_graph()
    kept.backward(retain_graph=True)
    assert len(viz.graph_of(kept).nodes) == 11


def test_a_graph_deeper_than_the_recursion_limit():
    depth = sys.getrecursionlimit() + 500
    graph = viz.graph_of(chain(depth))
    assert sum(node.is_operation for node in graph.nodes) == depth
    assert viz.to_dot(chain(depth)).count("->") == len(graph.edges)


# ------------------------------------------------------------------- DOT text
def test_dot_text_lists_every_operation_and_edge():
    loss, *_ = small_graph()
    dot = viz.to_dot(loss)
    assert dot.startswith("digraph tinydl {") and dot.rstrip().endswith("}")
    for op in ("MatMul", "Add", "ReLU", "Sum"):
        assert f'label="{op}"' in dot
    assert dot.count("->") == 10
    assert dot.count("[label=") == 11
    assert 'label="W\\n(3, 4) float32"' in dot  # newlines escaped for Graphviz


# ------------------------------------------------------------------- layout
def test_layout_puts_inputs_above_results_and_boxes_never_overlap():
    td.manual_seed(0)
    model = td.nn.Sequential(td.nn.Linear(2, 8), td.nn.Tanh(), td.nn.Linear(8, 2))
    loss = td.nn.CrossEntropyLoss()(model(td.randn(4, 2)), td.tensor([0, 1, 1, 0]))
    graph = viz.graph_of(loss)
    layout = viz.layered_layout(graph)
    positions, sizes = layout.positions, layout.sizes
    for source, target in graph.edges:
        assert positions[source][1] > positions[target][1]  # arrows point down
    for i in range(len(positions)):
        for j in range(i + 1, len(positions)):
            (xi, yi), (wi, hi) = positions[i], sizes[i]
            (xj, yj), (wj, hj) = positions[j], sizes[j]
            overlap_x = abs(xi - xj) < (wi + wj) / 2
            overlap_y = abs(yi - yj) < (hi + hj) / 2
            assert not (overlap_x and overlap_y), (graph.nodes[i].label, graph.nodes[j].label)


def test_closest_spaced_keeps_order_and_spacing_and_stays_near_the_wishes():
    wishes, gaps = [0.0, 0.1, 0.2, 5.0], [1.0, 1.0, 1.0]
    placed = viz._closest_spaced(wishes, gaps)
    assert all(b - a >= gap - 1e-12 for a, b, gap in zip(placed, placed[1:], gaps))
    assert placed[3] == pytest.approx(5.0)  # far enough already: not moved
    assert np.mean(placed[:3]) == pytest.approx(np.mean(wishes[:3]))  # the crowded three spread around their mean


# ------------------------------------------------------------------- drawing
def test_draw_graph_writes_png_svg_pdf_and_dot(tmp_path):
    loss, *_ = small_graph()
    figure = viz.draw_graph(loss, tmp_path / "graph.png")
    assert type(figure).__name__ == "Figure"
    assert (tmp_path / "graph.png").read_bytes()[:8] == PNG_MAGIC
    viz.draw_graph(loss, tmp_path / "graph.svg")
    svg = (tmp_path / "graph.svg").read_text()
    assert svg.startswith("<?xml") and "<svg" in svg
    viz.draw_graph(loss, tmp_path / "graph.pdf")
    assert (tmp_path / "graph.pdf").read_bytes()[:5] == b"%PDF-"
    text = viz.draw_graph(loss, tmp_path / "graph.dot")
    assert text == (tmp_path / "graph.dot").read_text() == viz.to_dot(loss)


def test_draw_graph_format_argument_overrides_the_suffix(tmp_path):
    loss, *_ = small_graph()
    viz.draw_graph(loss, tmp_path / "picture", format="svg")
    assert "<svg" in (tmp_path / "picture").read_text()


def test_draw_graph_draws_one_arrow_per_edge_and_both_arrows_of_x_times_x():
    from matplotlib.patches import FancyArrowPatch

    x = td.tensor([1.0, 2.0], requires_grad=True)
    figure = viz.draw_graph((x * x).sum())
    arrows = [a for a in figure.axes[0].get_children() if isinstance(a, FancyArrowPatch)]
    assert len(arrows) == 5  # x→Mul twice, Mul→product, product→Sum, Sum→sum
    paths = [tuple(map(tuple, a.get_path().vertices.round(6))) for a in arrows]
    assert len(set(paths)) == 5  # the two x→Mul arrows are drawn apart, not on top of each other


def test_draw_graph_of_a_300_operation_chain(tmp_path):
    figure = viz.draw_graph(chain(300), tmp_path / "chain.png")
    assert (tmp_path / "chain.png").read_bytes()[:8] == PNG_MAGIC
    width, height = figure.get_size_inches()
    assert height > width  # layered from top to bottom


def test_td_viz_is_reachable_from_the_package():
    assert td.viz.draw_graph is viz.draw_graph and td.viz.to_dot is viz.to_dot


def test_import_tinydl_does_not_import_matplotlib():
    result = run_python(
        "import sys, tinydl, tinydl.viz; assert 'matplotlib' not in sys.modules, 'matplotlib was imported'"
    )
    assert result.returncode == 0, result.stderr
