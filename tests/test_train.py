"""Tests for lenet.train: dry runs on tiny synthetic MNIST files, determinism, Ctrl-C and
--resume, the batch augmentation and the learning-rate schedule."""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from lenet import train
from lenet.checkpoint import load_checkpoint, read_card
from lenet.data import MNIST_FILES
from lenet.model import VARIANTS
from tests.mnist_files import write_mnist


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return write_mnist(tmp_path_factory.mktemp("mnist"), 600, 300)


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    """Small enough for a real (not dry) two-epoch run in a fraction of a second."""
    return write_mnist(tmp_path_factory.mktemp("mnist_small"), 128, 64, seed=1)


def dry_run(data: Path, out: Path, *extra: str) -> int:
    argv = ["--dry-run", "--data", str(data), "--out", str(out), "--quiet", "--device", "cpu"]
    return train.main([*argv, *extra])


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).state_dict()


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("variant", VARIANTS)
def test_dry_run_writes_a_loadable_checkpoint_with_its_card(tiny_data, tmp_path, variant):
    out = tmp_path / "x.safetensors"
    assert dry_run(tiny_data, out, "--variant", variant) == 0

    model = load_checkpoint(out)
    assert model.config.variant == variant
    card = read_card(out)
    assert card["variant"] == variant
    assert card["dry_run"] is True
    assert len(card["history"]) == 1
    assert card["history"][0]["epoch"] == 1

    expected_sha = {
        name: hashlib.sha256((tiny_data / name).read_bytes()).hexdigest()
        for files in MNIST_FILES.values()
        for name in files
    }
    assert card["dataset"]["sha256"] == expected_sha

    assert 0.0 <= card["test_accuracy"] <= 1.0
    confusion = np.array(card["confusion_matrix"])
    assert confusion.shape == (10, 10)
    assert confusion.sum() == 256  # the dry run evaluates the first 256 test images
    assert card["test_images"] == 256
    assert card["test_accuracy"] == pytest.approx(np.trace(confusion) / 256)
    assert card["history"][0]["test_accuracy"] == card["test_accuracy"]
    # The checkpoint's model reproduces the card on those 256 images.
    from lenet.data import load_mnist
    from lenet.evaluate import evaluate

    images, labels = load_mnist(tiny_data, "test")
    measured = evaluate(model, images[:256], labels[:256])
    assert measured["confusion_matrix"] == card["confusion_matrix"]
    # A finished run leaves no resume file behind.
    assert not train.resume_path(out).exists()


def test_prototypes_paper_trains_lecun1998_with_the_papers_bitmaps(tiny_data, tmp_path):
    from lenet.prototypes import paper_prototypes

    out = tmp_path / "p.safetensors"
    assert dry_run(tiny_data, out, "--variant", "lecun1998", "--prototypes", "paper") == 0
    model = load_checkpoint(out)
    assert model.config.prototypes == "paper"
    assert np.array_equal(model.output.prototypes.numpy(), paper_prototypes())
    assert read_card(out)["prototypes"] == {"kind": "paper-bitmaps"}


def test_dry_run_is_deterministic_per_seed(tiny_data, tmp_path):
    paths = {name: tmp_path / f"{name}.safetensors" for name in ("a", "b", "c")}
    assert dry_run(tiny_data, paths["a"], "--seed", "3") == 0
    assert dry_run(tiny_data, paths["b"], "--seed", "3") == 0
    assert dry_run(tiny_data, paths["c"], "--seed", "4") == 0
    a, b, c = (weights(p) for p in paths.values())
    assert same_weights(a, b)
    assert not same_weights(a, c)


def test_missing_data_is_reported_not_raised(tmp_path, capsys):
    assert dry_run(tmp_path / "nowhere", tmp_path / "x.safetensors") == 2
    assert "python -m lenet.data download" in capsys.readouterr().err
    assert not (tmp_path / "x.safetensors").exists()


def two_epochs(data: Path, out: Path, *extra: str) -> int:
    argv = ["--data", str(data), "--out", str(out), "--quiet", "--device", "cpu"]
    return train.main([*argv, "--epochs", "2", "--batch-size", "64", *extra])


@pytest.mark.parametrize("variant", ["classic", "lecun1998"])
def test_interrupt_keeps_last_epoch_and_resume_matches_an_uninterrupted_run(
    small_data, tmp_path, monkeypatch, variant
):
    reference = tmp_path / "reference.safetensors"
    assert two_epochs(small_data, reference, "--variant", variant) == 0

    out = tmp_path / "run.safetensors"
    real_epoch = train.train_one_epoch
    calls = []
    after_epoch_1 = {}

    def interrupted_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            after_epoch_1["bytes"] = out.read_bytes()
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", interrupted_in_epoch_2)
    assert two_epochs(small_data, out, "--variant", variant) == 130
    assert len(calls) == 2

    # The checkpoint of epoch 1 is intact and loadable; the resume file waits.
    assert out.read_bytes() == after_epoch_1["bytes"]
    load_checkpoint(out)
    card = read_card(out)
    assert len(card["history"]) == 1
    assert card["epochs_trained"] == 1
    resume = train.resume_path(out)
    assert resume.is_file()
    assert list(tmp_path.glob("*.tmp")) == []

    monkeypatch.setattr(train, "train_one_epoch", real_epoch)
    assert two_epochs(small_data, out, "--variant", variant, "--resume") == 0
    card = read_card(out)
    assert [h["epoch"] for h in card["history"]] == [1, 2]
    assert not resume.exists()

    # Resuming continues exactly where the interrupted run stopped: same weights as a
    # run that was never interrupted (model, optimiser and generator state restored).
    assert same_weights(weights(out), weights(reference))
    assert read_card(out)["confusion_matrix"] == read_card(reference)["confusion_matrix"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_saving_an_epoch_waits_until_both_files_are_written(
    small_data, tmp_path, monkeypatch, sig
):
    """The checkpoint and the resume file of an epoch never disagree: a signal that
    arrives between the two writes takes effect after both (it used to leave a resume
    file one epoch ahead of the checkpoint, and --resume then trained nothing)."""
    out = tmp_path / "run.safetensors"
    real_save = train.save_checkpoint
    saves = []

    def signalled_while_saving(*args, **kwargs):
        saves.append(1)
        os.kill(os.getpid(), sig)  # arrives now, in the middle of the epoch's saving
        return real_save(*args, **kwargs)

    monkeypatch.setattr(train, "save_checkpoint", signalled_while_saving)
    assert two_epochs(small_data, out, "--variant", "classic") == 130
    assert saves == [1]  # stopped after epoch 1, both files written
    state = safetensors_metadata(train.resume_path(out))
    assert int(state["epoch"]) == read_card(out)["epochs_trained"] == 1
    monkeypatch.setattr(train, "save_checkpoint", real_save)
    assert two_epochs(small_data, out, "--variant", "classic", "--resume") == 0
    assert [h["epoch"] for h in read_card(out)["history"]] == [1, 2]
    # the handlers are back to what they were
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def safetensors_metadata(path: Path) -> dict:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def test_resume_without_a_resume_file_fails_cleanly(small_data, tmp_path, capsys):
    assert two_epochs(small_data, tmp_path / "x.safetensors", "--resume") == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_resume_refuses_another_variant(small_data, tmp_path, monkeypatch):
    out = tmp_path / "x.safetensors"
    real_epoch = train.train_one_epoch
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train, "train_one_epoch", interrupted)
    assert two_epochs(small_data, out, "--variant", "classic") == 130
    monkeypatch.setattr(train, "train_one_epoch", real_epoch)
    with pytest.raises(SystemExit, match="another variant"):
        two_epochs(small_data, out, "--variant", "modern", "--resume")


def test_augment_keeps_shape_and_range_and_is_deterministic():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 32, 32, generator=gen)
    a = train.augment(x, torch.Generator().manual_seed(5))
    b = train.augment(x, torch.Generator().manual_seed(5))
    c = train.augment(x, torch.Generator().manual_seed(6))
    assert a.shape == x.shape
    assert a.dtype == x.dtype
    assert float(a.min()) >= 0.0
    assert float(a.max()) <= 1.0
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert not torch.equal(a, x)  # it does distort


def test_augment_moves_a_digit_only_a_little():
    """A centred blob stays roughly where it was: shifts are at most 2 px, and rotation,
    scale and shear move the centre of the field hardly at all."""
    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 12:20, 12:20] = 1.0
    out = train.augment(x, torch.Generator().manual_seed(1))
    rows = torch.arange(32, dtype=torch.float32).view(1, 1, 32, 1)
    cols = torch.arange(32, dtype=torch.float32).view(1, 1, 1, 32)
    mass = out.sum(dim=(1, 2, 3))
    cy = (out * rows).sum(dim=(1, 2, 3)) / mass
    cx = (out * cols).sum(dim=(1, 2, 3)) / mass
    assert (cy - 15.5).abs().max() <= 3.0
    assert (cx - 15.5).abs().max() <= 3.0
    assert ((cy - 15.5).abs() + (cx - 15.5).abs()).max() > 0.2  # and it does move some


def test_one_cycle_lr_peaks_at_the_given_lr():
    total, peak = 1000, 3e-3
    lrs = np.array([train.one_cycle_lr(step, total, peak) for step in range(total)])
    assert lrs.max() == pytest.approx(peak, rel=2e-3)
    top = int(lrs.argmax())
    assert top == pytest.approx(0.15 * total, abs=1)
    assert np.all(np.diff(lrs[: top + 1]) > 0)  # warm-up rises
    assert np.all(np.diff(lrs[top:]) <= 0)  # then decays
    assert lrs[0] < 0.2 * peak
    assert lrs[-1] < 0.01 * peak
    assert lrs.min() > 0


def test_a_loss_that_is_not_finite_stops_before_it_reaches_the_weights(small_data):
    from dataclasses import replace

    from lenet.data import load_mnist

    arrays = (*load_mnist(small_data, "train"), *load_mnist(small_data, "test"))
    run = train.setup(replace(train.PRESETS["classic"], epochs=1), arrays, sha256="-")
    with torch.no_grad():
        run.model.output.bias[3] = float("nan")
    before = {k: v.clone() for k, v in run.model.state_dict().items()}
    with pytest.raises(train.LossNotFinite, match="lower the learning rate"):
        train.train_epochs(run)
    after = run.model.state_dict()
    assert all(torch.equal(before[k], after[k]) or k == "output.bias" for k in before)
    assert torch.isnan(after["output.bias"][3])


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--variant", "classic"], train.PRESETS["classic"]),
        (
            ["--variant", "quick", "--pooling", "avg", "--activation", "sigmoid", "--lr", "0.01"],
            train.TrainSettings(
                activation="sigmoid",
                pooling="avg",
                lr=0.01,
                epochs=1,
                train_size=30000,
                augment=False,
            ),
        ),
        (
            [
                "--variant",
                "modern",
                "--optimizer",
                "sgd_momentum",
                "--no-augment",
                "--train-size",
                "5000",
                "--batch-size",
                "64",
                "--epochs",
                "3",
                "--seed",
                "7",
                "--c3-table",
                "lecun",
                "--output",
                "rbf",
            ],
            train.TrainSettings(
                activation="relu",
                pooling="max",
                c3_table="lecun",
                output="rbf",
                optimizer="sgd_momentum",
                batch_size=64,
                epochs=3,
                train_size=5000,
                augment=False,
                seed=7,
                label_smoothing=0.1,
            ),
        ),
    ],
)
def test_the_command_line_has_the_pages_switches(argv, expected):
    assert train.parse_args(argv).settings == expected


@pytest.mark.parametrize(
    "bad",
    [["--lr", "0"], ["--lr", "1e9"], ["--lr", "nan"], ["--train-size", "0"], ["--batch-size", "0"]],
)
def test_the_command_line_refuses_bad_settings(bad, capsys):
    with pytest.raises(SystemExit):
        train.parse_args(bad)
    assert "must be between" in capsys.readouterr().err


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_presets_switches_build_exactly_its_shipped_network(variant):
    from lenet.model import LeNetConfig

    assert train.PRESETS[variant].model_config() == LeNetConfig.for_variant(variant)
    assert (
        train.default_out(variant, train.PRESETS[variant]).name == f"lenet5-{variant}.safetensors"
    )


def test_other_switches_never_default_into_models():
    from dataclasses import replace

    mixed = replace(train.PRESETS["classic"], pooling="max")
    assert train.default_out("classic", mixed).parent.name == "runs"
    assert train.default_out("quick", train.PRESETS["quick"]).parent.name == "runs"
    assert mixed.model_config().pooling == "max"


@pytest.mark.parametrize("kind", ["adamw", "sgd_momentum"])
def test_our_optimisers_match_torch_optim_bit_for_bit(kind):
    """lenet.train.Optimizer avoids importing torch._dynamo (torch.optim does, ~70 MB in
    the app server) and must train exactly as torch.optim.AdamW / SGD on the CPU."""
    from lenet.model import build_model

    def train_steps(make):
        torch.manual_seed(0)
        model = build_model("lecun1998")  # trainable subsampling, sparse C3, RBF
        optimizer = make(model)
        gen = torch.Generator().manual_seed(1)
        for step in range(25):
            for group in optimizer.param_groups:
                group["lr"] = train.one_cycle_lr(step, 25, 3e-2)
            x = torch.rand(16, 1, 32, 32, generator=gen)
            y = torch.randint(0, 10, (16,), generator=gen)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return model.state_dict()

    if kind == "adamw":

        def theirs(m):
            return torch.optim.AdamW(m.parameters(), lr=3e-2, weight_decay=1e-4)
    else:

        def theirs(m):
            return torch.optim.SGD(
                m.parameters(), lr=3e-2, momentum=0.9, nesterov=True, weight_decay=1e-4
            )

    ours = train_steps(lambda m: train.Optimizer(m.parameters(), kind, 3e-2, 1e-4))
    assert same_weights(ours, train_steps(theirs))


def test_distortions_change_stroke_width_and_warp_but_keep_the_digit():
    from lenet.distort import distort, elastic, squeeze, stroke_width

    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 6:26, 14:17] = 1.0  # a 1, three pixels wide
    g = torch.Generator().manual_seed(0)
    widths = stroke_width(x, g).sum(dim=(1, 2, 3)) / 20  # ink per row of the stroke
    assert widths.min() < 3.0 - 0.2 and widths.max() > 3.0 + 0.5  # thinner and thicker
    assert widths.min() >= 1.5  # never erased
    warped = elastic(x, torch.Generator().manual_seed(1))
    moved = (warped - x).abs().sum(dim=(1, 2, 3))
    assert (moved > 0).all()
    kept = warped.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))  # a warp, not an eraser
    assert kept.min() > 0.75 and kept.max() < 1.3 and abs(kept.mean() - 1) < 0.05
    squeezed = squeeze(x, torch.Generator().manual_seed(3))
    rows = (squeezed > 0.5).any(dim=3).sum(dim=(1, 2))  # the height is kept
    assert (rows == 20).all()
    ink = squeezed.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))  # narrower and wider
    assert ink.min() < 0.9 and ink.max() > 1.1
    a = distort(x, torch.Generator().manual_seed(2))
    b = distort(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and a.shape == x.shape and 0 <= a.min() and a.max() <= 1
    assert torch.equal(distort(x, g, ""), x)
    with pytest.raises(ValueError, match="unknown distortions"):
        distort(x, g, "squeeze,blur")


def test_dry_run_with_distortions_records_them(tiny_data, tmp_path):
    out = tmp_path / "d.safetensors"
    assert dry_run(tiny_data, out, "--variant", "modern", "--distort", "squeeze,stroke") == 0
    assert read_card(out)["hyperparameters"]["distort"] == "squeeze,stroke"
    assert train.parse_args(["--distort", "stroke,elastic"]).settings.distort == "stroke,elastic"


def test_the_command_line_refuses_an_unknown_distortion(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--distort", "squeeze,blur"])
    assert "blur" in capsys.readouterr().err


def test_a_validation_split_is_carved_from_the_training_digits_only():
    images = np.arange(5000).reshape(5000, 1, 1)  # each "digit" is its own index
    labels = np.arange(5000) * 7
    tr_x, tr_y, va_x, va_y = train.validation_split(images, labels, 1000)
    assert len(tr_x) == 4000 and len(va_x) == 1000
    assert set(tr_x.ravel()).isdisjoint(va_x.ravel())
    assert sorted(np.concatenate([tr_x.ravel(), va_x.ravel()])) == list(range(5000))
    assert (tr_y == tr_x.ravel() * 7).all() and (va_y == va_x.ravel() * 7).all()
    args = train.parse_args(["--validation", "10000"])
    assert args.out.parent.name == "runs"


@pytest.mark.parametrize("size", [3, 5])
def test_max_filter_is_stride_one_max_pooling(size):
    """lenet.distort.max_filter (a maximum of shifted slices) gives exactly torch's
    stride-1 max pooling, borders included, for dilation and (negated) erosion."""
    import torch.nn.functional as F

    from lenet.distort import max_filter

    x = torch.rand(6, 1, 32, 32, generator=torch.Generator().manual_seed(size))
    x[:, :, :, :2] = 1.0  # ink against the border
    pooled = F.max_pool2d(x, size, stride=1, padding=size // 2)
    assert torch.equal(max_filter(x, size), pooled)
    assert torch.equal(-max_filter(-x, size), -F.max_pool2d(-x, size, stride=1, padding=size // 2))
