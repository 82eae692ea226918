"""A complete small training run: an MLP learns to tell two interleaved spirals apart.

Run it with ``python -m tinydl.demo`` (``--help`` lists the options). It

1. makes the data: two spirals of 300 points each (:mod:`tinydl.datasets_toy`),
   three quarters for training and a quarter held out to test on;
2. builds a multi-layer perceptron 2 → 32 → 32 → 2 with tanh activations;
3. trains it with Adam on the cross-entropy loss, printing progress;
4. reports the accuracy on the held-out points, and
5. draws what the network learnt — its predicted probability of class 1 over
   the whole plane, with the data on top — next to the loss curve, in one PNG.

No straight line separates two spirals, so this is a fair first test of a
network: the hidden layers must bend the plane until the classes come apart.

Every step of the training loop is the one PyTorch users write::

    optimizer.zero_grad()            # forget the previous step's gradients
    loss = loss_fn(model(x), y)      # forward pass: builds the graph
    loss.backward()                  # backward pass: dloss/dw for every weight
    optimizer.step()                 # move every weight against its gradient
"""

import argparse
import pathlib
import time

import numpy as np

import tinydl as td
from tinydl.datasets_toy import make_spirals

DEFAULT_EPOCHS = 500
LEARNING_RATE = 0.01
HIDDEN = 32


def build_model(hidden=HIDDEN):
    """The network: 2 inputs (x, y coordinates) → two tanh layers → 2 class scores (logits).

    The last layer has no activation: CrossEntropyLoss takes raw scores and
    applies the softmax itself, in a numerically stable way.
    """
    return td.nn.Sequential(
        td.nn.Linear(2, hidden),
        td.nn.Tanh(),
        td.nn.Linear(hidden, hidden),
        td.nn.Tanh(),
        td.nn.Linear(hidden, 2),
    )


def accuracy(model, x, labels):
    """The fraction of points whose highest-scoring class is the true one."""
    with td.no_grad():  # evaluation only: no graph needed
        predicted = model(td.tensor(x)).argmax(axis=1).numpy()
    return float(np.mean(predicted == labels))


def train(model, x, labels, epochs, lr=LEARNING_RATE, verbose=True):
    """Fit ``model`` to (x, labels) with Adam; returns the loss and accuracy of every epoch.

    The data set is small, so each step uses all the training points at once
    (full-batch training): one epoch is one step.
    """
    inputs, targets = td.tensor(x), td.tensor(labels)
    loss_fn = td.nn.CrossEntropyLoss()
    optimizer = td.optim.Adam(model.parameters(), lr=lr)
    losses, accuracies = [], []
    report_every = max(1, epochs // 10)
    for epoch in range(1, epochs + 1):
        optimizer.zero_grad()
        logits = model(inputs)
        loss = loss_fn(logits, targets)
        loss.backward()
        optimizer.step()
        # The logits are already here, so the training accuracy costs nothing extra.
        # (They are those *before* this step's update, as is the loss.)
        losses.append(loss.item())
        accuracies.append(float(np.mean(logits.argmax(axis=1).numpy() == labels)))
        if verbose and (epoch % report_every == 0 or epoch == 1):
            print(f"epoch {epoch:4d}/{epochs}   loss {losses[-1]:.4f}   training accuracy {accuracies[-1]:6.1%}")
    return losses, accuracies


def run_demo(out=None, epochs=DEFAULT_EPOCHS, seed=0, verbose=True):
    """Generate the spirals, train the MLP, and draw the result to ``out`` (a PNG path or a folder).

    ``out=None`` draws nothing; a folder gets ``demo.png`` inside it. The same
    ``seed`` gives the same data, the same initial weights and so the same
    run. Returns a dict with ``accuracy`` (on the held-out test points),
    ``train_accuracy``, ``losses`` (one per epoch), ``seconds`` (training
    time) and ``path`` (the PNG written, or None).
    """
    td.manual_seed(seed)  # the initial weights
    x, labels = make_spirals(n_per_class=300, turns=2.0, noise=0.03, seed=seed)
    n_train = len(labels) * 3 // 4  # the points come shuffled, so this split is random
    x_train, y_train, x_test, y_test = x[:n_train], labels[:n_train], x[n_train:], labels[n_train:]

    model = build_model()
    if verbose:
        print(f"Two spirals: {n_train} training and {len(y_test)} test points.  Model:\n{model}")
    start = time.perf_counter()
    losses, train_accuracies = train(model, x_train, y_train, epochs, verbose=verbose)
    seconds = time.perf_counter() - start
    test_accuracy = accuracy(model, x_test, y_test)
    train_accuracy = accuracy(model, x_train, y_train)
    if verbose:
        print(
            f"trained {epochs} epochs in {seconds:.2f} s;  "
            f"accuracy: training {train_accuracy:.1%}, test {test_accuracy:.1%}"
        )

    path = None
    if out is not None:
        path = pathlib.Path(out)
        if path.is_dir():
            path = path / "demo.png"
        plot_results(model, (x_train, y_train), (x_test, y_test), losses, train_accuracies, test_accuracy, path)
        if verbose:
            print(f"decision boundary and loss curve drawn to {path}")
    return {
        "accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "losses": losses,
        "seconds": seconds,
        "path": None if path is None else str(path),
    }


def plot_results(model, train_data, test_data, losses, train_accuracies, test_accuracy, path):
    """Two panels side by side: the learnt decision boundary, and the loss and accuracy curves."""
    # Imported here so that importing tinydl.demo (e.g. by the tests) does not load matplotlib.
    # A bare Figure with the Agg canvas draws to a file without any window or pyplot state.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 5.2), layout="constrained")
    FigureCanvasAgg(figure)
    boundary, curves = figure.subplots(1, 2, width_ratios=(1.05, 1))

    # Left: P(class 1 | point) over a grid that covers the data with a margin.
    x_all = np.concatenate([train_data[0], test_data[0]])
    low, high = x_all.min(axis=0) - 0.15, x_all.max(axis=0) + 0.15
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], 250), np.linspace(low[1], high[1], 250))
    grid = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)
    with td.no_grad():
        probability = model(td.tensor(grid)).softmax(axis=1).numpy()[:, 1].reshape(grid_x.shape)
    filled = boundary.contourf(grid_x, grid_y, probability, levels=np.linspace(0, 1, 21), cmap="RdBu_r", alpha=0.6)
    boundary.contour(grid_x, grid_y, probability, levels=[0.5], colors="black", linewidths=1.2)
    colours = np.array(["#1f4e9c", "#b2182b"])  # class 0 blue, class 1 red, as in the colour map
    (x_train, y_train), (x_test, y_test) = train_data, test_data
    boundary.scatter(x_train[:, 0], x_train[:, 1], c=colours[y_train], s=14, edgecolors="white", linewidths=0.5)
    boundary.scatter(
        x_test[:, 0], x_test[:, 1], c=colours[y_test], s=30, marker="^", edgecolors="black", linewidths=0.6
    )
    # Legend entries drawn in grey: the colour of a point is its class, explained by the colour bar.
    from matplotlib.lines import Line2D

    boundary.legend(
        handles=[
            Line2D(
                [],
                [],
                linestyle="",
                marker="o",
                markersize=5,
                color="grey",
                markeredgecolor="white",
                label="training point",
            ),
            Line2D(
                [],
                [],
                linestyle="",
                marker="^",
                markersize=6,
                color="grey",
                markeredgecolor="black",
                label="test point (held out)",
            ),
            Line2D([], [], color="black", linewidth=1.2, label="decision boundary, P = 0.5"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    boundary.set_title(f"What the network learnt (test accuracy {test_accuracy:.1%})")
    boundary.set_xlabel("$x_1$")
    boundary.set_ylabel("$x_2$")
    boundary.set_aspect("equal")
    colour_bar = figure.colorbar(filled, ax=boundary, shrink=0.85, ticks=np.linspace(0, 1, 6))
    colour_bar.set_label("predicted P(class 1):  red = class 1, blue = class 0")

    # Right: the loss on a log scale (it falls over orders of magnitude), accuracy on a second axis.
    epochs = np.arange(1, len(losses) + 1)
    curves.semilogy(epochs, losses, color="#333333", label="cross-entropy loss")
    curves.set_xlabel("epoch (one Adam step on all training points)")
    curves.set_ylabel("training loss (log scale)")
    curves.grid(True, which="major", alpha=0.3)
    accuracy_axis = curves.twinx()
    accuracy_axis.plot(epochs, train_accuracies, color="#2e7d32", label="training accuracy")
    accuracy_axis.set_ylabel("training accuracy", color="#2e7d32")
    accuracy_axis.set_ylim(0.3, 1.02)
    accuracy_axis.yaxis.set_major_formatter("{x:.0%}")
    lines = curves.get_lines() + accuracy_axis.get_lines()
    curves.legend(lines, [line.get_label() for line in lines], loc="lower left", fontsize=9)
    curves.set_title("Training")

    figure.savefig(path, dpi=110)
    return figure


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tinydl.demo",
        description="Train a small MLP on two interleaved spirals and draw its decision boundary.",
    )
    parser.add_argument(
        "--out", default="demo.png", help="PNG file to write, or a folder to write demo.png into (default: demo.png)"
    )
    parser.add_argument(
        "--epochs", type=int, default=DEFAULT_EPOCHS, help=f"training epochs (default: {DEFAULT_EPOCHS})"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the data and the initial weights (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="print only the final accuracy")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.seed < 0:
        parser.error("--seed must be a non-negative integer")
    result = run_demo(out=args.out, epochs=args.epochs, seed=args.seed, verbose=not args.quiet)
    if args.quiet:
        print(f"test accuracy {result['accuracy']:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
