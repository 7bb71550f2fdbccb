"""Training speed: our loop (lenet.train.train_one_epoch on the whole training set held in
one tensor, each batch augmented at once) against a baseline written the usual way (a
torch Dataset returning one sample at a time, per-sample augmentation, a DataLoader with
num_workers=0). Same network, batch size, optimizer, machine and run; the two are
interleaved chunk by chunk so that a busy machine slows both alike.

    python -m bench.train_speed [--quick] [--variant modern] [--device cpu|cuda|all]
        [--skip-race true] [--threads N]   (every keyword of run() is an option)

Reports images/s (median over chunks) and their ratio (median of the side-by-side
ratios), the fraction of the CPU's matmul peak reached, and the wall time to reach 99.0%
test accuracy (evaluating the test set every ``--eval-every`` batches; the evaluations
are counted in the time).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from bench.common import DATA_DIR, Table, Target, cli, median, result, time_calls, torch_threads
from bench.report import fmt
from lenet.evaluate import predict_padded as test_predictions
from lenet.model import LeNet5, LeNetConfig
from lenet.preprocess import PAD, pad_unit
from lenet.train import RECIPES, augment, one_cycle_lr, train_one_epoch

TITLE = "Training speed"
TARGET_SECONDS_TO_99 = 30.0
TARGET_SPEEDUP = 2.0
TARGET_ACCURACY = 0.99
SEED = 0  # the models' initial weights and both loops' shuffling and distortions


# ----------------------------------------------------------------------------- baseline


class PerSampleMNIST(Dataset):
    """The usual way: one uint8 image at a time -> float tensor, padded to 32x32, distorted
    on its own (the same random affine distortions as lenet.train.augment, for one image);
    the model maps [0, 1] onto its input range itself."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, seed: int):
        self.images, self.labels = images, labels
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = torch.from_numpy(self.images[i]).to(torch.float32).div(255.0)
        x = F.pad(x, (PAD, PAD, PAD, PAD)).unsqueeze(0)  # (1, 32, 32)
        x = augment(x.unsqueeze(0), self.generator)[0]
        return x, int(self.labels[i])


class Loop:
    """A model with the variant's recipe (AdamW, one-cycle schedule over ``total_steps``)
    on a device; a subclass trains it on the next batches."""

    def __init__(self, model: LeNet5, recipe, total_steps: int, device: torch.device):
        self.model, self.recipe, self.total_steps, self.device = model, recipe, total_steps, device
        self.step = 0
        self.optimizer = torch.optim.AdamW(
            model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
        )

    def train_batches(self, n: int) -> int:
        """Train on the next n batches; returns the number of images."""
        raise NotImplementedError

    def timed(self, n: int) -> tuple[int, float]:
        """train_batches(n): the images and the seconds (the device synchronised)."""
        self._sync()
        started = time.perf_counter()
        images = self.train_batches(n)
        self._sync()
        return images, time.perf_counter() - started

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


class BaselineLoop(Loop):
    """A DataLoader over PerSampleMNIST; the training step is the same as ours."""

    def __init__(self, model, images, labels, recipe, total_steps, device):
        super().__init__(model, recipe, total_steps, device)
        self.loader = DataLoader(
            PerSampleMNIST(images, labels, SEED),
            batch_size=recipe.batch_size,
            shuffle=True,
            num_workers=0,
            generator=torch.Generator().manual_seed(SEED),
        )
        self.batches = iter(self.loader)

    def train_batches(self, n: int) -> int:
        """A new epoch starts when one ends."""
        self.model.train()
        seen = 0
        for _ in range(n):
            try:
                x, y = next(self.batches)
            except StopIteration:
                self.batches = iter(self.loader)
                x, y = next(self.batches)
            x, y = x.to(self.device), y.to(self.device)
            for group in self.optimizer.param_groups:
                group["lr"] = one_cycle_lr(self.step, self.total_steps, self.recipe.lr)
            loss = F.cross_entropy(self.model(x), y, label_smoothing=self.recipe.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss.item()
            self.step += 1
            seen += len(y)
        return seen


class OurLoop(Loop):
    """lenet.train.train_one_epoch, run on successive chunks of each epoch's shuffled
    order (so that the two loops can be interleaved and evaluated every few batches)."""

    def __init__(self, model, train_x, train_y, recipe, total_steps, device):
        super().__init__(model, recipe, total_steps, device)
        self.x, self.y = train_x.to(device), train_y.to(device)
        self.generator = torch.Generator().manual_seed(SEED)
        self.order, self.pos = torch.randperm(len(self.x), generator=self.generator), 0

    def train_batches(self, n: int) -> int:
        if self.pos >= len(self.order):
            self.order, self.pos = torch.randperm(len(self.x), generator=self.generator), 0
        idx = self.order[self.pos : self.pos + n * self.recipe.batch_size]
        self.pos += len(idx)
        _, self.step = train_one_epoch(
            self.model,
            self.optimizer,
            self.x[idx],
            self.y[idx],
            batch_size=self.recipe.batch_size,
            step=self.step,
            total_steps=self.total_steps,
            peak_lr=self.recipe.lr,
            augment_batches=True,
            label_smoothing=self.recipe.label_smoothing,
            generator=self.generator,
        )
        return len(idx)


# ----------------------------------------------------------------------------- peak, MACs


def forward_macs(model: LeNet5) -> int:
    """Multiply-adds of one forward pass (dense convolutions, as computed)."""
    macs = 0

    def hook(module, inputs, output):
        nonlocal macs
        if isinstance(module, torch.nn.Conv2d):
            k = module.weight[0].numel()  # in_channels * kh * kw
            macs += output[0].numel() * k
        elif isinstance(module, torch.nn.Linear):
            macs += module.in_features * module.out_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)
    ]
    with torch.inference_mode():
        model(torch.zeros(1, 1, 32, 32, device=next(model.parameters()).device))
    for h in handles:
        h.remove()
    if model.config.output == "rbf":
        macs += 84 * 10
    return macs


def matmul_peak_flops(n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of a float32 n x n matmul with torch's current threads (median of repeats)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / median(time_calls(lambda i: torch.mm(a, b), repeats, warmup=1))


# ----------------------------------------------------------------------------- benchmark


def interleaved(chunks: dict, repeats: int) -> dict[object, list[float]]:
    """Images/s of each ``chunks[name]()`` (a call returning (images, seconds)), one call
    of each per repeat, the order reversed every other repeat so that a busy machine slows
    all alike."""
    names, rates = list(chunks), {name: [] for name in chunks}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            images, seconds = chunks[name]()
            rates[name].append(images / seconds)
    return rates


def throughput(ours: OurLoop, base: BaselineLoop, batches: int, repeats: int) -> dict:
    """Interleaved chunks of ``batches`` batches of our loop and the baseline."""
    ours.timed(2)  # warm-up: first calls allocate and pick kernels
    base.timed(2)
    rates = interleaved(
        {"ours": lambda: ours.timed(batches), "base": lambda: base.timed(batches)}, repeats
    )
    ratios = [o / b for o, b in zip(rates["ours"], rates["base"], strict=True)]
    return {
        "ours_images_per_s": median(rates["ours"]),
        "baseline_images_per_s": median(rates["base"]),
        "speedup": median(ratios),
        "ours_samples": rates["ours"],
        "baseline_samples": rates["base"],
        "ratios": ratios,
        "batches_per_chunk": batches,
        "repeats": repeats,
    }


def thread_comparison(ours: OurLoop, batches: int, repeats: int) -> dict | None:
    """Our loop with torch's current threads and with one thread, interleaved chunks."""
    default = torch.get_num_threads()
    if default == 1 or ours.device.type != "cpu":
        return None

    def chunk(threads: int):
        with torch_threads(threads):
            return ours.timed(batches)

    rates = interleaved({n: (lambda n=n: chunk(n)) for n in (default, 1)}, repeats)
    return {threads: median(v) for threads, v in rates.items()}


def race(loops: dict, test_x, test_labels, eval_every: int, limit_s: float) -> dict:
    """Train each loop in segments of ``eval_every`` batches, interleaved, evaluating the
    test set after every segment; each loop's clock counts only its own segments and
    evaluations. Stops a loop at TARGET_ACCURACY, at ``limit_s`` or at the schedule's end."""
    state = {
        name: {"seconds": 0.0, "train_seconds": 0.0, "reached_s": None, "history": []}
        for name in loops
    }
    active = list(loops)
    while active:
        for name in list(active):
            loop, st = loops[name], state[name]
            images, seconds = loop.timed(eval_every)
            started = time.perf_counter()
            preds = test_predictions(loop.model, test_x)
            eval_s = time.perf_counter() - started
            st["train_seconds"] += seconds
            st["seconds"] += seconds + eval_s
            accuracy = float((preds == test_labels).mean())
            st["history"].append((loop.step, round(st["seconds"], 2), accuracy))
            st["best_accuracy"] = max(st.get("best_accuracy", 0.0), accuracy)
            if accuracy >= TARGET_ACCURACY:
                st["reached_s"], st["reached_step"] = st["seconds"], loop.step
                st["reached_train_s"] = st["train_seconds"]
            if (
                st["reached_s"] is not None
                or st["seconds"] > limit_s
                or loop.step >= loop.total_steps
            ):
                active.remove(name)
    return state


def run(
    variant: str = "modern",
    data: str = str(DATA_DIR),
    device: str = "all",
    batches: int = 100,
    repeats: int = 5,
    race_epochs: float = 3.0,
    eval_every: int = 100,
    race_limit_s: float = 120.0,
    skip_race: bool = False,
    arrays: tuple | None = None,
    threads: int | None = None,
) -> dict:
    """``arrays`` = (train_images, train_labels, test_images, test_labels) replaces the
    MNIST files (tests). ``device="all"`` adds CUDA where there is one. ``threads``: torch
    threads, as lenet.train --threads sets them (default: torch's)."""
    if arrays is None:
        from lenet.data import load_mnist

        arrays = (*load_mnist(data, "train"), *load_mnist(data, "test"))
    recipe = RECIPES[variant]
    steps = max(1, int(race_epochs * math.ceil(len(arrays[0]) / recipe.batch_size)))
    race_settings = None if skip_race else (eval_every, race_limit_s)
    per_device, targets, notes = {}, [], []
    torch.set_flush_denormal(True)  # as lenet.train does, for both loops
    with torch_threads(threads):
        for name in ["cpu", "cuda"] if device == "all" else [device]:
            if name == "cuda" and not torch.cuda.is_available():
                per_device["cuda"] = {"skipped": "no CUDA device"}
                notes.append("CUDA: no CUDA device (torch.cuda.is_available() is False).")
                continue
            setup = (variant, recipe, steps, torch.device(name))
            per_device[name] = measure_device(setup, arrays, (batches, repeats), race_settings)
            targets += device_targets(name, variant, per_device[name])
        threads_used = torch.get_num_threads()
    body = _body(per_device, variant, recipe, notes)
    body.append(
        f"Settings: {batches} batches of {recipe.batch_size} per chunk, {repeats} "
        f"interleaved repeats; race: one-cycle schedule over {race_epochs:g} epochs, test set "
        f"evaluated every {eval_every} batches, limit {race_limit_s:.0f} s per loop; "
        f"{len(arrays[0]):,} training and {len(arrays[2]):,} test images; "
        f"torch threads: {threads_used}; denormals flushed to zero (as lenet.train)."
    )
    return result("train_speed", TITLE, body, targets, devices=per_device, variant=variant)


def measure_device(setup: tuple, arrays, chunks: tuple, race_settings) -> dict:
    """Throughput of both loops on one device, torch threads compared, the CPU's peak, and
    (``race_settings`` = (eval_every, limit_s)) the race to 99%."""
    variant, recipe, total_steps, device = setup
    train_images, train_labels, test_images, test_labels = arrays
    train_x = torch.as_tensor(train_images)  # uint8: the loop pads batch by batch
    train_y = torch.as_tensor(train_labels, dtype=torch.long)

    def fresh():
        torch.manual_seed(SEED)
        model = LeNet5(LeNetConfig.for_variant(variant)).to(device)
        ours = OurLoop(model, train_x, train_y, *setup[1:])
        base = BaselineLoop(copy.deepcopy(model), train_images, train_labels, *setup[1:])
        return ours, base

    ours, base = fresh()
    r = throughput(ours, base, *chunks)
    r["threads"] = thread_comparison(ours, *chunks)
    r["epoch_seconds_ours"] = 60_000 / r["ours_images_per_s"]
    r["epoch_seconds_baseline"] = 60_000 / r["baseline_images_per_s"]
    if device.type == "cpu":
        macs, peak = forward_macs(ours.model), matmul_peak_flops()
        r["forward_macs"] = macs
        r["peak_gflops"] = peak / 1e9
        r["training_gflops"] = r["ours_images_per_s"] * macs * 2 * 3 / 1e9
        r["fraction_of_peak"] = r["training_gflops"] * 1e9 / peak
    if race_settings is not None:
        ours, base = fresh()
        loops = {"ours": ours, "baseline": base}
        test_x = pad_unit(test_images).to(device)
        r["race"] = race(loops, test_x, test_labels, *race_settings)
    return r


def device_targets(name: str, variant: str, r: dict) -> list[Target]:
    speedup = f"our epoch vs baseline ({name})"
    label = f"{variant} to {TARGET_ACCURACY:.1%} test accuracy ({name})"
    targets = [Target(speedup, r["speedup"], TARGET_SPEEDUP, "× faster", True)]
    if "race" not in r:
        skipped = {"unmeasured": "not run", "note": "race skipped"}
        return targets + [Target(label, None, TARGET_SECONDS_TO_99, "s", **skipped)]
    ours = r["race"]["ours"]
    reached = ours["reached_s"]
    best = f"not reached: best {ours['best_accuracy']:.2%} after {ours['seconds']:.0f} s"
    note = "" if reached is not None else best
    target = Target(label, reached, TARGET_SECONDS_TO_99, "s", note=note, unmeasured="not reached")
    return targets + [target]


THROUGHPUT_HEADERS = [
    "device",
    "ours (train_one_epoch, batch augmentation)",
    "baseline (Dataset + DataLoader, per-sample)",
    "speedup (median of pairs)",
]
RACE_HEADERS = [
    "device",
    "loop",
    "wall time (with evaluations)",
    "training only",
    "batches",
    "best accuracy",
]


def _body(per_device, variant, recipe, notes) -> list:
    measured = {name: r for name, r in per_device.items() if "skipped" not in r}
    rows = [
        [
            name,
            f"{r['ours_images_per_s']:,.0f} img/s ({r['epoch_seconds_ours']:.1f} s/epoch)",
            f"{r['baseline_images_per_s']:,.0f} img/s ({r['epoch_seconds_baseline']:.1f} s/epoch)",
            f"{r['speedup']:.2f}× (per repeat: " + ", ".join(f"{x:.2f}" for x in r["ratios"]) + ")",
        ]
        for name, r in measured.items()
    ]
    parts: list = [Table(THROUGHPUT_HEADERS, rows)]
    cpu = per_device.get("cpu", {})
    if cpu.get("threads"):
        parts.append(
            "Our loop by torch threads (interleaved chunks, median img/s): "
            + ", ".join(f"{k} thread(s): {v:,.0f}" for k, v in cpu["threads"].items())
            + ". `python -m lenet.train --threads N` picks the count; by default torch "
            "uses one per core."
        )
    if "fraction_of_peak" in cpu:
        parts.append(
            f"CPU efficiency: LeNet-5 ({variant}) costs {cpu['forward_macs'] / 1e6:.3f} M "
            f"multiply-adds forward per image, forward + backward counted as 3× forward: "
            f"{cpu['training_gflops']:.2f} GFLOP/s at {fmt(cpu['ours_images_per_s'])} img/s, "
            f"against a float32 matmul peak (torch.mm 2048×2048, same threads) of "
            f"{cpu['peak_gflops']:.1f} GFLOP/s: **{cpu['fraction_of_peak']:.1%} of peak**."
        )
    race_rows = [
        [name, loop, *_race_cells(st)]
        for name, r in per_device.items()
        for loop, st in r.get("race", {}).items()
    ]
    if race_rows:
        parts.append(
            f"Time to {TARGET_ACCURACY:.1%} test accuracy ({variant} recipe: lr {recipe.lr:g}, "
            f"batch {recipe.batch_size}, weight decay {recipe.weight_decay:g}, label smoothing "
            f"{recipe.label_smoothing:g}, augmentation), interleaved:"
        )
        parts.append(Table(RACE_HEADERS, race_rows))
    parts += notes
    if "cuda" not in per_device:
        parts.append("CUDA: not asked for (`--device all` or `--device cuda`).")
    return parts


def _race_cells(st: dict) -> list[str]:
    reached = st["reached_s"]
    if reached is None:
        return ["not reached", "—", "—", f"{st['best_accuracy']:.2%}"]
    return [
        f"{reached:.1f} s",
        f"{st['reached_train_s']:.1f} s",
        str(st["reached_step"]),
        f"{st['best_accuracy']:.2%}",
    ]


QUICK = {"batches": 10, "repeats": 3, "skip_race": True}

if __name__ == "__main__":
    cli(run, QUICK)
