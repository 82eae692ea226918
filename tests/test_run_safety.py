"""Nothing lost: run folders are claimed and never silently replaced; killed runs resume to the same weights.

The fault-injection tests start a tiny training in a child process that kills
itself with SIGKILL at a chosen moment (during an epoch, while a checkpoint is
being written, while the final files are moved into place), then continue it
with ``tinydl train --resume`` and compare the final weights with those of a
run that was never interrupted, bit for bit.
"""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tinydl as td
from tinydl import run_folder
from tinydl.cli import main

# Small and fast: 2 epochs of SmallCNN on the built-in synthetic images, settings that use every
# random generator a run draws from (shuffling, augmentation, the schedule's state).
TINY = ["--data", "synthetic", "--epochs", "3", "--batch-size", "64", "--augment", "--schedule", "cosine"]
TINY += ["--quiet", "--seed", "5"]


def train(out, *extra):
    return main(["train", *TINY, "--out", str(out), *extra])


def weights(run):
    with np.load(run / "model.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files if not k.startswith("__")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A run never interrupted: the weights every resumed run must end with."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert train(out, "--no-plots") == 0
    return out


def assert_same_weights(run, reference):
    mine, theirs = weights(run), weights(reference)
    assert mine.keys() == theirs.keys()
    for k in theirs:
        np.testing.assert_array_equal(mine[k], theirs[k], err_msg=k)


def assert_one_run(run):
    """A finished run folder: complete, unlocked, no hidden leftovers, every file of this run."""
    names = {p.name for p in run.iterdir()}
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
    assert run_folder.LOCK not in names and run_folder.STAGING not in names
    assert not [n for n in names if n.endswith(".tmp")], names
    assert {"model.npz", "metadata.json", "metrics.json", "history.csv", "checkpoint.npz"} <= names


# ------------------------------------------------------------------ claiming a folder
def test_a_finished_run_is_never_replaced_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    assert train(out, "--epochs", "1") == 0
    first = weights(out)
    (out / "eval-test").mkdir()  # what `tinydl evaluate` leaves in a run folder
    capsys.readouterr()
    assert train(out, "--epochs", "1", "--seed", "6") == 1
    assert "already holds a run; pass --force" in capsys.readouterr().err
    np.testing.assert_array_equal(weights(out)["features.0.weight"], first["features.0.weight"])
    # --force replaces it whole: no plot or eval folder of the first run stays beside the new model.
    assert train(out, "--epochs", "1", "--seed", "6", "--force", "--no-plots") == 0
    names = {p.name for p in out.iterdir()}
    assert "eval-test" not in names and not [n for n in names if n.endswith(".png")]
    assert not np.array_equal(weights(out)["features.0.weight"], first["features.0.weight"])


def test_the_default_folder_name_is_numbered_when_taken(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["train", "--data", "synthetic", "--epochs", "1", "--quiet", "--no-plots"]
    assert main(args) == 0 and main(args) == 0
    assert (tmp_path / "runs" / "synthetic-lesions-small_cnn-seed0" / "model.npz").is_file()
    assert (tmp_path / "runs" / "synthetic-lesions-small_cnn-seed0-2" / "model.npz").is_file()


def test_a_folder_in_use_is_refused_at_once(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / run_folder.LOCK).write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    with pytest.raises(run_folder.RunFolderError, match=f"in use by process {os.getpid()}"):
        run_folder.claim(out, force=True)


def test_a_killed_runs_lock_is_stale_and_taken_over(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # its pid now names no process
    out = tmp_path / "run"
    out.mkdir()
    (out / run_folder.LOCK).write_text(json.dumps({"pid": child.pid, "host": os.uname().nodename}))
    claimed = run_folder.claim(out, resume=True)
    assert run_folder.lock_owner(out)["pid"] == os.getpid()
    claimed.release()
    assert not (out / run_folder.LOCK).exists()


def test_bad_out_folders_fail_before_the_first_epoch(tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert train(a_file) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert train(a_file / "run") == 1  # a folder below a file cannot be made
    assert "cannot be used" in capsys.readouterr().err
    home_like = tmp_path / "home"
    home_like.mkdir()
    (home_like / "thesis.tex").write_text("years of work")
    assert train(home_like, "--force") == 1
    assert "not a tinydl run folder" in capsys.readouterr().err
    assert (home_like / "thesis.tex").read_text() == "years of work"
    assert not (home_like / "model.npz").exists()


def test_a_failed_final_write_keeps_the_weights_and_says_where(tmp_path, monkeypatch, capsys):
    from tinydl import serialization

    real_save = serialization.save

    def full_disk(model, path, *args, **kwargs):
        if run_folder.STAGING in str(path):
            raise OSError(28, "No space left on device")
        return real_save(model, path, *args, **kwargs)

    monkeypatch.setattr(serialization, "save", full_disk)
    assert train(tmp_path / "run", "--epochs", "1") == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err and "the trained weights are kept in" in err
    rescued = err.split("the trained weights are kept in ")[1].split(" and the last epoch")[0]
    assert td.load(rescued).num_parameters() > 0
    assert (tmp_path / "run" / "checkpoint.npz").is_file() and "--resume" in err


# ------------------------------------------------------------------ checkpoints and resume
def test_resume_after_an_interruption_gives_the_same_weights(tmp_path, reference, monkeypatch):
    from tinydl.train import Trainer

    real_epoch = Trainer.train_epoch

    def interrupted(self, loader, optimizer, epoch=1, progress=None):
        if epoch == 3:
            raise KeyboardInterrupt
        return real_epoch(self, loader, optimizer, epoch, progress)

    out = tmp_path / "run"
    monkeypatch.setattr(Trainer, "train_epoch", interrupted)
    assert train(out, "--no-plots") == 130
    monkeypatch.setattr(Trainer, "train_epoch", real_epoch)
    assert json.loads((out / "run.json").read_text())["status"] == "training"
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    assert_same_weights(out, reference)
    assert_one_run(out)


def test_resume_without_a_usable_checkpoint_starts_again(tmp_path, reference, capsys):
    out = tmp_path / "run"
    assert train(out, "--no-plots") == 0
    (out / "checkpoint.npz").write_bytes(b"torn")
    (out / "run.json").write_text(json.dumps({**json.loads((out / "run.json").read_text()), "status": "training"}))
    assert main(["train", "--resume", str(out)]) == 0
    assert "No usable checkpoint" in capsys.readouterr().out
    assert_same_weights(out, reference)


def test_a_checkpoint_holds_no_pickle_and_names_what_it_holds(reference):
    with np.load(reference / "checkpoint.npz", allow_pickle=False) as z:
        names = set(z.files)
        meta = json.loads(str(z["meta"]))
    assert {"model/features.0.weight", "optimizer/0/exp_avg", "optimizer/0/exp_avg_sq"} <= names
    assert meta["epoch"] == 3 and len(meta["history"]) == 3 and meta["scheduler"]["last_epoch"] == 3
    assert len(meta["random"]["generators"]) == 2  # the shuffling's and the augmentation's


# ------------------------------------------------------------------ SIGKILL at chosen moments
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from tinydl import checkpoint, run_folder, train
    from tinydl.cli import main

    point, count = sys.argv[1], int(sys.argv[2])
    seen = {"n": 0}

    def hit():
        seen["n"] += 1
        if seen["n"] == count:
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "epoch":  # the count-th training batch
        real_loss = train.Trainer._loss
        def _loss(self, logits, y):
            hit()
            return real_loss(self, logits, y)
        train.Trainer._loss = _loss
    elif point == "checkpoint":  # half-way through writing the count-th checkpoint
        real_write = checkpoint.write_atomically
        def write_atomically(path, write):
            def half(f):
                f.write(b"PK\\x03\\x04 half a checkpoint")
                f.flush()
                hit()
                write(f)
            return real_write(path, half)
        checkpoint.write_atomically = write_atomically
    elif point == "final":  # after the count-th final file has been moved into place
        real_replace = os.replace
        def replace(src, dst):
            real_replace(src, dst)
            if run_folder.STAGING in str(src):
                hit()
        run_folder.os.replace = replace
    sys.exit(main(sys.argv[3:]))
    """
)


def kill_then_resume(tmp_path, point, count, reference):
    out = tmp_path / f"{point}-{count}"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, point, str(count), "train", *TINY, "--no-plots", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert (out / run_folder.LOCK).exists()  # left by the killed run, stale now
    assert main(["train", "--resume", str(out)]) == 0
    assert_same_weights(out, reference)
    assert_one_run(out)


@pytest.mark.parametrize("point, count", [("epoch", 40), ("checkpoint", 2), ("final", 2)])
def test_sigkill_then_resume_ends_with_the_same_weights(tmp_path, reference, point, count):
    kill_then_resume(tmp_path, point, count, reference)


@pytest.mark.slow
def test_sigkill_at_twenty_seeded_points_then_resume(tmp_path, reference):
    chooser = random.Random(2026)
    batches_per_run = 3 * -(-2000 // 64)  # epochs × batches of the synthetic training set
    for _ in range(20):
        point = chooser.choice(["epoch", "checkpoint", "final"])
        count = {"epoch": chooser.randint(1, batches_per_run), "checkpoint": chooser.randint(1, 3)}.get(
            point, chooser.randint(1, 4)
        )
        kill_then_resume(tmp_path / f"k{_}", point, count, reference)


def test_the_test_split_is_checked_before_the_first_epoch(tmp_path, monkeypatch, capsys):
    from tinydl.data import synthetic

    real_arrays = synthetic.SyntheticLesions.arrays

    def a_bad_label_in_test(self):
        x, y = real_arrays(self)
        if self.split == "test":
            y = y.copy()
            y[3] = 7
        return x, y

    monkeypatch.setattr(synthetic.SyntheticLesions, "arrays", a_bad_label_in_test)
    assert train(tmp_path / "run") == 1
    assert "test data: label 7 at index 3" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # refused before the folder was claimed


def test_dropout_one_is_refused_naming_the_option_before_any_data_is_read(tmp_path, capsys):
    assert main(["train", "--model", "convnet", "--dropout", "1.0", "--out", str(tmp_path / "r")]) == 1
    assert "--dropout" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_an_html_page_saved_as_a_medmnist_file_is_named_for_what_it_is(tmp_path):
    from tinydl.data import DataFileError, get_info, read_split

    page = tmp_path / "pneumoniamnist.npz"
    page.write_text("<!DOCTYPE html><html><body>Too many requests</body></html>")
    with pytest.raises(DataFileError, match="looks like a web page") as caught:
        read_split(page, get_info("pneumoniamnist"), "train")
    assert "pickle" not in str(caught.value)


def test_predict_says_how_a_12_bit_scan_was_scaled(tmp_path, reference):
    from PIL import Image

    scan = np.zeros((28, 28), dtype=np.uint16)
    scan[4:24, 4:24] = 4000  # a 12-bit value (≤ 4095) stored in a 16-bit PNG
    Image.fromarray(scan).save(tmp_path / "scan.png")
    (row,) = td.predict_images(reference, [tmp_path / "scan.png"])
    assert row["scaling"] == "12-bit: × 255/4095"
