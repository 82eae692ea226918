"""Error messages must name what is wrong: the shapes, dtypes, values or argument involved."""

import re

import numpy as np
import pytest

import tinydl as td


def raises(exc, *fragments):
    """pytest.raises that also requires every fragment (plain text, not a regex) in the message."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


def f(*shape):
    return td.tensor(np.zeros(shape), requires_grad=True)


# -------------------------------------------------------------- arithmetic
def test_matmul_shape_mismatch_names_both_shapes():
    with raises(ValueError, "(3, 4)", "(5, 2)", "matmul"):
        f(3, 4) @ f(5, 2)
    with raises(ValueError, "(2, 3, 4)", "(3,)"):
        td.matmul(f(2, 3, 4), f(3))


def test_matmul_of_a_scalar():
    with raises(ValueError, "()", "(2,)", "at least 1 dimension"):
        td.matmul(f(), f(2))


def test_broadcast_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)|\(4,\).*\(3,\)"):
        f(3) + f(4)


# --------------------------------------------------------------- backward
def test_backward_on_non_scalar_without_grad():
    y = f(2, 3) * 2
    with raises(RuntimeError, "(2, 3)", "grad", ".sum()"):
        y.backward()


def test_backward_with_gradient_of_wrong_shape():
    with raises(ValueError, "(3,)", "(2,)"):
        (f(2) * 2).backward(np.ones(3))


def test_backward_on_tensor_without_grad():
    with raises(RuntimeError, "does not require grad"):
        td.tensor([1.0, 2.0]).sum().backward()


def test_requires_grad_on_integer_tensor_names_the_dtype():
    with raises(TypeError, "int64", "floating-point"):
        td.tensor(np.array([1, 2], dtype=np.int64), requires_grad=True)


def test_item_on_many_elements_names_the_shape():
    with raises(ValueError, "(2, 2)", "one element"):
        td.tensor(np.ones((2, 2))).item()


# ---------------------------------------------------------- cross_entropy
def test_cross_entropy_label_out_of_range_names_label_and_range():
    logits = f(3, 4)
    with raises(ValueError, "[0, 4)", "7", "position 1"):
        td.cross_entropy(logits, np.array([0, 7, 1]))
    with raises(ValueError, "[0, 4)", "-1", "position 2"):
        td.cross_entropy(logits, np.array([0, 1, -1]))


def test_cross_entropy_float_labels_name_the_dtype():
    with raises(TypeError, "integers", "float64"):
        td.cross_entropy(f(3, 4), np.array([0.0, 1.0, 2.0]))


def test_cross_entropy_label_shape_mismatch():
    with raises(ValueError, "(3,)", "(2,)", "(3, 4)"):
        td.cross_entropy(f(3, 4), np.array([0, 1]))
    with raises(ValueError, "(3, 1)"):
        td.cross_entropy(f(3, 4), np.zeros((3, 1), dtype=np.int64))


def test_cross_entropy_soft_target_shape_mismatch():
    with raises(ValueError, "(3, 5)", "(3, 4)"):
        td.cross_entropy(f(3, 4), np.full((3, 5), 0.2))


def test_cross_entropy_bad_logits_or_weight_shape():
    with raises(ValueError, "(N, C)", "(4,)"):
        td.cross_entropy(f(4), np.array([0]))
    with raises(ValueError, "weight", "(4,)", "(3,)"):
        td.cross_entropy(f(2, 4), np.array([0, 1]), weight=np.ones(3))


# --------------------------------------------------------------- mse / bce
def test_mse_shape_mismatch_names_both_shapes():
    with raises(ValueError, "(3, 2)", "(2, 3)", "mse_loss"):
        td.mse_loss(f(3, 2), f(2, 3))


def test_bce_shape_mismatch_names_both_shapes():
    with raises(ValueError, "(4,)", "(4, 1)"):
        td.binary_cross_entropy_with_logits(f(4), np.zeros((4, 1)))


@pytest.mark.parametrize(
    "loss",
    [
        lambda r: td.mse_loss(f(2), f(2), reduction=r),
        lambda r: td.cross_entropy(f(2, 3), np.array([0, 1]), reduction=r),
        lambda r: td.binary_cross_entropy_with_logits(f(2), np.zeros(2), reduction=r),
    ],
    ids=["mse", "cross_entropy", "bce"],
)
def test_bad_reduction_names_it_and_the_choices(loss):
    with raises(ValueError, "'avg'", "mean", "sum", "none"):
        loss("avg")


# -------------------------------------------------------------------- shape
def test_reshape_to_impossible_shape():
    with raises(ValueError, "(2, 3)", "6 elements", "(4, 2)"):
        f(2, 3).reshape(4, 2)


@pytest.mark.parametrize("axes", [(0, 0, 1), (0, 1), (0, 1, 3), (0, 1, -4)])
def test_bad_permute_names_axes_and_shape(axes):
    with raises(ValueError, str(tuple(axes)), "(2, 3, 4)", "permutation"):
        f(2, 3, 4).permute(*axes)


def test_concatenate_mismatched_shapes():
    with raises(ValueError, "(2, 3)", "(2, 4)", "axis 0"):
        td.concatenate([f(2, 3), f(2, 4)], axis=0)
    with raises(ValueError, "(2, 3)", "(3,)"):
        td.concatenate([f(2, 3), f(3)], axis=1)
    with raises(ValueError, "axis 2", "(2, 3)"):
        td.concatenate([f(2, 3), f(2, 3)], axis=2)
    with raises(ValueError, "at least one"):
        td.concatenate([])


def test_stack_mismatched_shapes():
    with raises(ValueError, "(2, 3)", "(3, 2)"):
        td.stack([f(2, 3), f(3, 2)])


@pytest.mark.parametrize("index", [5, (0, 3), -6, np.array([0, 9])])
def test_indexing_out_of_range_names_index_and_shape(index):
    with raises(IndexError, "(5, 3)", "index"):
        f(5, 3)[index]


@pytest.mark.parametrize("op", [td.sum, td.mean, td.max, td.min])
def test_reduction_axis_out_of_range(op):
    with raises(ValueError, "axis 3", "2 dimensions"):
        op(f(2, 3), axis=3)
    with raises(ValueError, "axis -3"):
        op(f(2, 3), axis=(0, -3))


def test_clip_needs_a_bound():
    with raises(ValueError, "min", "max"):
        td.clip(f(2))


def test_max_of_empty_tensor():
    with raises(ValueError, "empty"):
        td.max(td.tensor(np.zeros((0, 3))))


# -------------------------------------------------------------- dropout p in [0, 1) (issue 15)
def test_cli_dropout_one_fails_before_training(tmp_path, capsys):
    from tinydl.cli import main

    out = tmp_path / "run"
    code = main(
        ["train", "--data", "synthetic", "--model", "convnet", "--dropout", "1.0", "--epochs", "1"]
        + ["--out", str(out), "--quiet", "--no-plots"]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "dropout" in err and "[0, 1)" in err and "1.0" in err
    assert not (out / "model.npz").exists()  # no model was trained
