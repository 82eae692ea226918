"""Draw the computational graph of a tensor — with matplotlib alone, no Graphviz needed.

Every operation that produced a tensor left a :class:`~tinydl.function.Context`
on it (``tensor._ctx``) that remembers the Function applied and its inputs
(``ctx.parents``). Following those links backwards from a result recovers the
whole graph that ``backward()`` will walk::

    import tinydl as td
    x = td.tensor([[1.0, 2.0]]); x.name = "x"
    W = td.randn(2, 3, requires_grad=True); W.name = "W"
    loss = (x @ W).relu().sum()
    td.viz.draw_graph(loss, "graph.png")   # or "graph.svg", "graph.pdf", "graph.dot"
    print(td.viz.to_dot(loss))             # DOT text, for Graphviz users

The picture has two kinds of node, as the graph itself does:

* **tensors** (rectangles) labelled with their name, if ``tensor.name`` is set,
  shape and dtype — blue for *parameters* (leaves that require a gradient:
  what ``backward()`` fills ``.grad`` of and an optimiser updates), grey for
  *constants* (data and targets: leaves that need no gradient), white for
  intermediate results and green for the tensor you asked to draw;
* **operations** (rounded, orange) labelled with the Function's name,
  ``ctx.function.__name__``.

Arrows follow the forward pass: input tensor → operation → result. A tensor
used twice (``x * x``) sends two arrows into the same operation — and in
the backward pass receives the sum of the two gradients along them.

Draw *before* calling ``backward()``: backward frees the graph as it goes
(so that the memory it holds can be reused) unless you pass
``retain_graph=True``, and a freed graph has nothing left to draw.

matplotlib is imported inside :func:`draw_graph` only, so ``import tinydl``
stays light, and it draws on a bare ``Figure`` with the Agg canvas: no
window, no pyplot state, works on a server.
"""

from dataclasses import dataclass, field

import numpy as np

# The kinds of node, with their colours (fill, border) in the picture and in DOT.
PARAMETER, CONSTANT, INTERMEDIATE, OUTPUT, OPERATION = "parameter", "constant", "intermediate", "output", "operation"
_STYLE = {
    PARAMETER: ("#cfe2ff", "#1f5fbf"),
    CONSTANT: ("#e9e9e9", "#6b6b6b"),
    INTERMEDIATE: ("#ffffff", "#444444"),
    OUTPUT: ("#cdeccd", "#2e7d32"),
    OPERATION: ("#ffe2b8", "#c0661c"),
}
_LEGEND = {
    PARAMETER: "parameter (leaf, requires grad)",
    CONSTANT: "constant (leaf, no grad)",
    INTERMEDIATE: "intermediate result",
    OUTPUT: "the tensor drawn",
    OPERATION: "operation (Function)",
}


@dataclass
class Node:
    """One node of the graph: a tensor or the application of an operation.

    ``index``  position in :attr:`Graph.nodes` (inputs come first),
    ``kind``   one of "parameter", "constant", "intermediate", "output", "operation",
    ``label``  the text shown in the picture (lines separated by "\\n"),
    ``obj``    the Tensor, or for an operation its Context.
    """

    index: int
    kind: str
    label: str
    obj: object = field(repr=False, default=None)

    @property
    def is_operation(self):
        return self.kind == OPERATION


@dataclass
class Graph:
    """The computational graph behind one tensor, as plain lists.

    ``nodes`` are in topological order — every node after all the nodes it
    was computed from — so the inputs come first and ``nodes[root]`` (the
    tensor drawn) last. ``edges`` are ``(source, target)`` pairs of node
    indices in the direction of the forward pass; an input used twice by the
    same operation appears as two equal edges.
    """

    nodes: list
    edges: list
    root: int

    def predecessors(self):
        """For each node index, the indices its edges come from (with repeats)."""
        preds = [[] for _ in self.nodes]
        for source, target in self.edges:
            preds[target].append(source)
        return preds

    def successors(self):
        """For each node index, the indices its edges go to (with repeats)."""
        succs = [[] for _ in self.nodes]
        for source, target in self.edges:
            succs[source].append(target)
        return succs


# --------------------------------------------------------------------------- the graph


def _tensors_in_order(root):
    """Every tensor behind ``root``, constants included, each after its parents (a post-order DFS).

    It is a topological sort, the task ``a1_topological_order`` of assignment 1, so that
    assignment's hand-out leaves it out, and there drawing a graph says so.
    """
    # BEGIN SOLUTION assignment=1 remove
    ordered, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, parents_done = stack.pop()
        if parents_done:
            ordered.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t._ctx is not None:
            # Reversed, so that the first argument is popped, and so placed, first.
            for parent in reversed(t._ctx.parents):
                if id(parent) not in visited:
                    stack.append((parent, False))
    return ordered
    # END SOLUTION
    raise NotImplementedError(
        "drawing a graph needs a topological order, which is what you write in this hand-out (a1_topological_order)"
    )


def graph_of(tensor, params=None):
    """Collect the graph that produced ``tensor``: tensors, operations and the edges between them.

    ``params`` optionally names tensors that have no ``.name`` of their own:
    a dict or an iterable of (name, tensor) pairs, such as
    ``model.named_parameters()``, which labels a model's weights "0.weight",
    "0.bias", …

    The walk is an iterative depth-first search with an explicit stack (as in
    :func:`tinydl.autograd.topological_order`), so graphs thousands of
    operations deep do not hit Python's recursion limit. Unlike the autograd
    walk it also follows inputs that need no gradient (data, targets), because
    they belong in the picture.
    """
    if getattr(tensor, "_graph_freed", False) and tensor._ctx is None:
        raise RuntimeError(
            "the graph of this tensor was freed by backward(); draw it before calling "
            "backward(), or call backward(retain_graph=True)"
        )
    names = {id(t): name for name, t in dict(params or {}).items()}

    # 1. Order the tensors so that each comes after its parents.
    ordered = _tensors_in_order(tensor)

    # 2. Number the nodes. An operation gets its node just before the tensor it made.
    nodes, edges, node_of_tensor = [], [], {}
    for t in ordered:
        if t._ctx is not None:
            op = Node(len(nodes), OPERATION, t._ctx.function.__name__, t._ctx)
            nodes.append(op)
            edges.extend((node_of_tensor[id(parent)], op.index) for parent in t._ctx.parents)
        kind = _tensor_kind(t, is_root=t is tensor)
        node = Node(len(nodes), kind, _tensor_label(t, names.get(id(t))), t)
        nodes.append(node)
        node_of_tensor[id(t)] = node.index
        if t._ctx is not None:
            edges.append((op.index, node.index))
    return Graph(nodes, edges, root=node_of_tensor[id(tensor)])


def _tensor_kind(t, is_root):
    if is_root:
        return OUTPUT
    if t._ctx is not None:
        return INTERMEDIATE
    return PARAMETER if t.requires_grad else CONSTANT


def _tensor_label(t, fallback_name=None):
    """A tensor's name, if it has one, over its shape and dtype: "W\\n(2, 3) float32".

    A constant number (the 2 in ``x * 2``) has no name, so it shows its value.
    """
    shape = "scalar" if t.shape == () else str(t.shape)
    description = f"{shape} {t.dtype}"
    name = t.name if t.name is not None else fallback_name
    if name is None and t._ctx is None and not t.requires_grad and t.size == 1:
        name = f"{t.item():.4g}"
    return description if name is None else f"{name}\n{description}"


# --------------------------------------------------------------------------- DOT text
def to_dot(tensor, params=None, graph_name="tinydl"):
    """The graph of ``tensor`` as Graphviz DOT text (render it with ``dot -Tsvg graph.dot``).

    Node ids are ``n0``, ``n1``, … in topological order, so the text is the
    same on every run. ``params`` names tensors, as in :func:`graph_of`.
    """
    graph = tensor if isinstance(tensor, Graph) else graph_of(tensor, params)
    lines = [
        f"digraph {graph_name} {{",
        "  rankdir=TB;",
        '  node [fontname="monospace", fontsize=10];',
        "  edge [arrowsize=0.7];",
    ]
    for node in graph.nodes:
        fill, border = _STYLE[node.kind]
        style = {OPERATION: "rounded,filled", CONSTANT: "dashed,filled"}.get(node.kind, "filled")
        width = 2 if node.kind in (PARAMETER, OUTPUT) else 1
        lines.append(
            f'  n{node.index} [label="{_dot_escape(node.label)}", shape=box, style="{style}", penwidth={width}, '
            f'fillcolor="{fill}", color="{border}", tooltip="{node.kind}"];'
        )
    for source, target in graph.edges:
        lines.append(f"  n{source} -> n{target};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --------------------------------------------------------------------------- layout
# Sizes in inches: the drawing is laid out directly in the units of the figure,
# so a box sized from its text fits that text at any graph size.
_FONT_SIZE = 8.5  # points
_CHAR_WIDTH = 0.6 * _FONT_SIZE / 72  # a monospace character is about 0.6 em wide
_LINE_HEIGHT = 1.25 * _FONT_SIZE / 72
_PAD = 0.07  # inside a box, around the text
_GAP_X = 0.25  # between boxes side by side in a layer
_GAP_Y = 0.32  # between one layer and the next


def _box_size(node):
    lines = node.label.split("\n")
    width = max(len(line) for line in lines) * _CHAR_WIDTH + 2 * _PAD
    height = len(lines) * _LINE_HEIGHT + 2 * _PAD
    if node.is_operation:
        width += 0.1  # room for the rounded ends
    return width, height


@dataclass
class Layout:
    """Where :func:`layered_layout` puts things, in inches (y grows upwards, as in matplotlib).

    ``positions[i]`` is the centre and ``sizes[i]`` the (width, height) of
    node i's box; ``routes[e]`` lists the bend points of edge e between its
    two boxes — empty for an edge between neighbouring layers.
    """

    positions: list
    sizes: list
    routes: list


def layered_layout(graph, sweeps=8):
    """Place the nodes of ``graph`` in layers from the inputs (top) to the output (bottom).

    A small version of the classic Sugiyama method, which Graphviz's ``dot`` also uses:

    1. **Layers.** Each node goes in layer = its longest distance *to* the
       output, counted downwards from the top: the output is in the bottom
       layer and every node sits above all nodes computed from it. Measuring
       from the output (not from the inputs) puts each weight just above the
       operation that uses it, instead of at the top of the picture.
    2. **Bend points.** An edge that skips layers gets an invisible point in
       each layer it crosses; these take part in steps 3 and 4 like nodes, so
       long edges get a lane of their own instead of running through boxes.
    3. **Order within a layer.** Alternately downwards and upwards, each node
       moves to the mean position of its neighbours in the layer just visited
       (the *barycentre* heuristic), which removes most edge crossings.
    4. **Coordinates.** Each node wants to sit at the mean x of its
       neighbours, but boxes in a layer must keep their order and not overlap.
       The closest positions to the wishes under those constraints are an
       isotonic regression, solved exactly by pool-adjacent-violators (below).
    """
    n = len(graph.nodes)
    preds = graph.predecessors()

    # 1. Layers: longest path to the root. Visiting the nodes in reverse
    #    topological order settles every node before its predecessors.
    distance = [0] * n
    for node in reversed(range(n)):
        for p in preds[node]:
            distance[p] = max(distance[p], distance[node] + 1)
    depth = max(distance)
    layer_of = [depth - d for d in distance]

    # 2. Bend points: nodes n, n+1, … with no box, one per layer an edge skips.
    sizes = [_box_size(node) for node in graph.nodes]
    widths = [w for w, _ in sizes]
    up, down = [[] for _ in range(n)], [[] for _ in range(n)]  # neighbours one layer up / down
    chains = []
    for source, target in graph.edges:
        chain = [source]
        for layer in range(layer_of[source] + 1, layer_of[target]):
            chain.append(len(widths))
            widths.append(0.0)
            layer_of.append(layer)
            up.append([])
            down.append([])
        chain.append(target)
        for a, b in zip(chain, chain[1:]):
            down[a].append(b)
            up[b].append(a)
        chains.append(chain)
    layers = [[] for _ in range(depth + 1)]
    for node, layer in enumerate(layer_of):  # real nodes in topological order: a sensible start
        layers[layer].append(node)

    # 3. Crossing reduction by barycentres (positions are slot numbers here).
    slot = {}
    for layer in layers:
        slot.update((node, i - (len(layer) - 1) / 2) for i, node in enumerate(layer))
    for sweep in range(sweeps):
        downwards = sweep % 2 == 0
        neighbours = up if downwards else down
        for layer in layers if downwards else reversed(layers):
            layer.sort(key=lambda node: _mean([slot[m] for m in neighbours[node]], default=slot[node]))
            slot.update((node, i - (len(layer) - 1) / 2) for i, node in enumerate(layer))

    # 4. Coordinates: start evenly spaced, then pull each node toward its neighbours.
    x = [0.0] * len(widths)
    for layer in layers:
        left = -sum(widths[m] + _GAP_X for m in layer) / 2
        for node in layer:
            x[node] = left + widths[node] / 2
            left += widths[node] + _GAP_X
    for sweep in range(2 * sweeps):
        for layer in layers if sweep % 2 == 0 else reversed(layers):
            wishes = [_mean([x[m] for m in up[node] + down[node]], default=x[node]) for node in layer]
            gaps = [(widths[a] + widths[b]) / 2 + _GAP_X for a, b in zip(layer, layer[1:])]
            for node, value in zip(layer, _closest_spaced(wishes, gaps)):
                x[node] = value

    # Rows from the top, each as tall as its tallest box.
    y = [0.0] * len(widths)
    top = 0.0
    for layer in layers:
        row_height = max((sizes[m][1] for m in layer if m < n), default=0.0)
        for node in layer:
            y[node] = -(top + row_height / 2)
        top += row_height + _GAP_Y
    points = list(zip(x, y))
    return Layout(points[:n], sizes, [[points[m] for m in chain[1:-1]] for chain in chains])


def _mean(values, default):
    return sum(values) / len(values) if values else default


def _closest_spaced(wishes, gaps):
    """Positions p closest to ``wishes`` (least squares) with p[i+1] − p[i] ≥ gaps[i].

    Substituting q[i] = p[i] − (gaps[0] + … + gaps[i−1]) turns the spacing
    constraints into "q is non-decreasing": an isotonic regression. Its
    pool-adjacent-violators solution merges neighbouring blocks that are out
    of order into one block placed at their mean, until none are.
    """
    offsets = np.concatenate([[0.0], np.cumsum(gaps)])
    targets = np.asarray(wishes, dtype=float) - offsets
    blocks = []  # each block: [mean, count]
    for value in targets:
        blocks.append([value, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean_b, count_b = blocks.pop()
            mean_a, count_a = blocks[-1]
            blocks[-1] = [(mean_a * count_a + mean_b * count_b) / (count_a + count_b), count_a + count_b]
    q = np.concatenate([[mean] * count for mean, count in blocks])
    return list(q + offsets)


# --------------------------------------------------------------------------- drawing
_LEGEND_WIDTH = 3.6  # inches, for two columns of legend entries
_MAX_PIXELS = 30000  # Agg cannot draw images wider or taller than 2**16 pixels; stay well under


def draw_graph(tensor, path=None, format=None, params=None, dpi=150, legend=True):
    """Draw the computational graph of ``tensor``; optionally save it to ``path``.

    Returns the matplotlib ``Figure`` — or, when the format is "dot", the DOT
    text (see :func:`to_dot`). The format comes from ``format`` or else from
    the suffix of ``path``: ".png", ".svg", ".pdf" or ".dot". ``params``
    names tensors, as in :func:`graph_of`; ``legend`` explains the colours.

    Call it **before** ``backward()``, which frees the graph (unless
    ``backward(retain_graph=True)``).

    The layout is layered from the inputs at the top to the output at the
    bottom (see :func:`layered_layout`); the figure grows with the graph, so
    a graph of a few hundred nodes is tall but readable — save it as SVG or
    PDF to zoom in without blur. PNGs are drawn at ``dpi`` dots per inch,
    less if the image would exceed 30 000 pixels a side.
    """
    import pathlib

    suffix = pathlib.Path(path).suffix.lower().lstrip(".") if path is not None else ""
    format = (format or suffix or "png").lower()
    if format == "dot":
        text = to_dot(tensor, params)
        if path is not None:
            pathlib.Path(path).write_text(text)
        return text

    # Imported here, not at the top: matplotlib takes a good fraction of a second to load.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch, Patch

    graph = tensor if isinstance(tensor, Graph) else graph_of(tensor, params)
    layout = layered_layout(graph)
    positions, sizes = layout.positions, layout.sizes

    # The axes span the figure and its data units are inches, so the sizes
    # computed by the layout are the sizes on the page.
    margin, legend_height = 0.2, (0.45 if legend else 0.0)
    left = min(x - w / 2 for (x, _), (w, _) in zip(positions, sizes)) - margin
    right = max(x + w / 2 for (x, _), (w, _) in zip(positions, sizes)) + margin
    bottom = min(y - h / 2 for (_, y), (_, h) in zip(positions, sizes)) - margin
    top = max(y + h / 2 for (_, y), (_, h) in zip(positions, sizes)) + margin + legend_height
    if legend and right - left < _LEGEND_WIDTH:  # widen narrow graphs, keeping them centred
        extra = (_LEGEND_WIDTH - (right - left)) / 2
        left, right = left - extra, right + extra
    fig_width, fig_height = right - left, top - bottom
    figure = Figure(figsize=(fig_width, fig_height))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_axis_off()

    for node, (cx, cy), (w, h) in zip(graph.nodes, positions, sizes):
        fill, border = _STYLE[node.kind]
        style = f"round,pad=0,rounding_size={h / 2}" if node.is_operation else "square,pad=0"
        box = FancyBboxPatch(
            (cx - w / 2, cy - h / 2),
            w,
            h,
            boxstyle=style,
            facecolor=fill,
            edgecolor=border,
            linewidth=1.6 if node.kind in (PARAMETER, OUTPUT) else 1.0,
            linestyle="--" if node.kind == CONSTANT else "-",
            zorder=2,
        )
        ax.add_artist(box)
        ax.text(
            cx,
            cy,
            node.label,
            ha="center",
            va="center",
            family="monospace",
            fontsize=_FONT_SIZE,
            fontweight="bold" if node.is_operation else "normal",
            zorder=3,
            linespacing=1.1,
        )

    # An input used twice by one operation (x * x) has two equal edges:
    # draw them side by side, shifted apart across their direction.
    multiplicity = {}
    for edge in graph.edges:
        multiplicity[edge] = multiplicity.get(edge, 0) + 1
    drawn = {}
    for (source, target), bends in zip(graph.edges, layout.routes):
        k, count = drawn.get((source, target), 0), multiplicity[(source, target)]
        drawn[(source, target)] = k + 1
        ax.add_artist(
            _arrow(
                positions[source],
                sizes[source],
                bends,
                positions[target],
                sizes[target],
                shift=0.16 * (k - (count - 1) / 2),
            )
        )

    if legend:
        kinds = [k for k in _LEGEND if any(node.kind == k for node in graph.nodes)]
        handles = [
            Patch(
                facecolor=_STYLE[k][0],
                edgecolor=_STYLE[k][1],
                linestyle="--" if k == CONSTANT else "-",
                label=_LEGEND[k],
            )
            for k in kinds
        ]
        ax.legend(
            handles=handles,
            loc="upper left",
            ncol=2,
            fontsize=7,
            frameon=False,
            bbox_to_anchor=(0, 1),
            borderaxespad=0.3,
            handlelength=1.5,
            columnspacing=1.0,
        )

    if path is not None:
        if format == "png":
            dpi = min(dpi, _MAX_PIXELS / max(fig_width, fig_height))
        figure.savefig(path, format=format, dpi=dpi)
    return figure


def _arrow(start, start_size, bends, end, end_size, shift=0.0):
    """An arrow from box to box through the ``bends`` points, as a matplotlib patch.

    With bends, the path is a chain of quadratic Bézier curves that use the
    bend points as control points and pass through the midpoints between
    them: a smooth curve with no corners. ``shift`` moves a straight arrow
    sideways (in inches), to draw parallel edges apart.
    """
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    if shift and not bends:
        (x0, y0), (x1, y1) = start, end
        length = np.hypot(x1 - x0, y1 - y0)
        nx, ny = -(y1 - y0) / length * shift, (x1 - x0) / length * shift
        start, end = (x0 + nx, y0 + ny), (x1 + nx, y1 + ny)
    first = _border_point(start, start_size, towards=bends[0] if bends else end)
    last = _border_point(end, end_size, towards=bends[-1] if bends else start)
    vertices, codes = [first], [Path.MOVETO]
    for here, after in zip(bends, bends[1:]):
        vertices += [here, ((here[0] + after[0]) / 2, (here[1] + after[1]) / 2)]
        codes += [Path.CURVE3, Path.CURVE3]
    if bends:
        vertices += [bends[-1], last]
        codes += [Path.CURVE3, Path.CURVE3]
    else:
        vertices.append(last)
        codes.append(Path.LINETO)
    return FancyArrowPatch(
        path=Path(vertices, codes),
        arrowstyle="-|>",
        mutation_scale=9,
        shrinkA=0,
        shrinkB=1.5,
        linewidth=0.9,
        color="#555555",
        zorder=1,
    )


def _border_point(centre, size, towards):
    """Where the straight line from ``centre`` to ``towards`` leaves a box of ``size`` around ``centre``.

    Arrows start and end there rather than at the centres, so that the
    arrowheads are visible. (matplotlib can clip arrows to patches itself,
    but that is slow for hundreds of arrows.)
    """
    (cx, cy), (w, h), (tx, ty) = centre, size, towards
    dx, dy = tx - cx, ty - cy
    scales = [abs(w / 2 / dx) if dx else np.inf, abs(h / 2 / dy) if dy else np.inf]
    t = min(scales + [1.0])
    return cx + t * dx, cy + t * dy
