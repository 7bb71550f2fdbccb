"""lenet.exercises: every answer equals an independent computation (torch layers, autograd,
pool2d), the same seed gives the same exercise, and answers are read tolerantly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lenet import exercises as ex
from lenet.exercises import Score, Verdict, check, make_exercise, parse_answer
from lenet.i18n import catalogue

SEEDS = range(60)


def ints(matrix_latex: str) -> list[int]:
    """The numbers of a bmatrix, row-major."""
    body = matrix_latex.split(r"\begin{bmatrix}")[-1].split(r"\end{bmatrix}")[0]
    return [int(v) for v in body.replace(r"\\", "&").split("&")]


# --- answers against independent computations ----------------------------------------------


def exercises_of(kind: str):
    return [make_exercise(kind, seed) for seed in SEEDS]


def test_output_size_matches_running_torch():
    for e in exercises_of("output_size"):
        n, k, s, p = (e.fields[name] for name in "nksp")
        x = torch.zeros(1, 1, n, n)
        if e.variant == "conv":
            y = F.conv2d(x, torch.zeros(1, 1, k, k), stride=s, padding=p)
        else:
            y = F.max_pool2d(x, k, stride=s, padding=p)
        assert e.answer == y.shape[-1], e
        assert e.steps[1].latex.endswith(f"= {e.answer_text}"), e


def test_output_size_lenet_layers_and_bad_input():
    assert ex.output_size(32, 5) == 28  # C1
    assert ex.output_size(28, 2, 2) == 14  # S2
    assert ex.output_size(5, 5) == 1  # C5
    assert ex.output_size(7, 2, 2) == 3  # floor
    with pytest.raises(ValueError):
        ex.output_size(3, 5)
    with pytest.raises(ValueError):
        ex.output_size(8, 2, 0)


def test_parameter_count_matches_torch_modules():
    for e in exercises_of("parameters"):
        layer, suffix = e.variant.split("_", 1)
        bias = suffix == "bias"
        if layer == "conv":
            module = nn.Conv2d(e.fields["c_in"], e.fields["c_out"], e.fields["k"], bias=bias)
        else:
            module = nn.Linear(e.fields["n_in"], e.fields["n_out"], bias=bias)
        assert e.answer == sum(p.numel() for p in module.parameters()), e
        assert e.steps[-1].latex.endswith(f"= {e.answer_text}"), e


def test_parameter_counts_of_the_lesson():
    assert ex.conv_parameters(5, 1, 6, bias=False) == 150
    assert ex.conv_parameters(5, 6, 16) == 2416
    assert ex.conv_parameters(5, 16, 120) == 48_120
    assert ex.linear_parameters(120, 84) == 10_164
    assert ex.linear_parameters(84, 10, bias=False) == 840


def test_pooling_answer_matches_torch_pooling():
    for e in exercises_of("pooling"):
        x = torch.tensor(ints(e.given), dtype=torch.float64).reshape(1, 1, 4, 4)
        pool = F.max_pool2d if e.variant == "max" else F.avg_pool2d
        expected = pool(x, 2, 2)[0, 0, e.fields["row"] - 1, e.fields["col"] - 1].item()
        assert e.answer == pytest.approx(expected, abs=1e-12), e
        assert e.steps[-1].latex.endswith(f"= {e.answer_text}"), e


def test_kernel_gradient_matches_autograd():
    for e in exercises_of("kernel_gradient"):
        x_part, delta_part = e.given.split(r"\qquad")
        x = torch.tensor(ints(x_part), dtype=torch.float64).reshape(1, 1, 3, 3)
        delta = torch.tensor(ints(delta_part), dtype=torch.float64).reshape(2, 2)
        w = torch.zeros(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
        (F.conv2d(x, w)[0, 0] * delta).sum().backward()
        expected = w.grad.ravel()[e.fields["i"] - 1].item()
        assert e.answer == pytest.approx(expected, abs=1e-12), e
        assert e.steps[-1].latex.endswith(f"= {e.answer_text}"), e


def test_invariance_answer_matches_numpy_geometry():
    for e in exercises_of("invariance"):
        image = np.zeros((28, 28), dtype=np.uint8)
        image[e.fields["r"], e.fields["c"]] = 1
        if e.variant == "shift":
            moved = np.roll(image, (e.fields["dy"], e.fields["dx"]), axis=(0, 1))  # no wrap here
            expected = np.argwhere(moved)[0][1]
        else:
            moved = np.rot90(
                image, 1 if e.variant == "rotate_ccw" else -1
            )  # rot90: counter-clockwise
            expected = np.argwhere(moved)[0][0]
        assert e.answer == expected, e
        assert e.steps[-1].latex.endswith(f"= {e.answer_text}"), e
    assert {e.variant for e in exercises_of("invariance")} == {"shift", "rotate_ccw", "rotate_cw"}


# --- exercises from seeds -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ex.KINDS)
def test_same_seed_same_exercise_and_variety(kind):
    assert make_exercise(kind, 7) == make_exercise(kind, 7)
    questions = {ex._question(make_exercise(kind, s)) for s in SEEDS}
    assert len(questions) > 10
    variants = {make_exercise(kind, s).variant for s in SEEDS}
    assert len(variants) >= (1 if kind == "kernel_gradient" else 2)


@pytest.mark.parametrize("kind", ex.KINDS)
def test_next_seed_changes_the_question(kind):
    rng = np.random.default_rng(0)
    seed = 3
    for _ in range(20):
        new = ex.next_seed(kind, seed, rng)
        assert ex._question(make_exercise(kind, new)) != ex._question(make_exercise(kind, seed))
        seed = new


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown exercise kind"):
        make_exercise("division", 0)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_question_and_step_has_its_translation(lang):
    strings = catalogue(lang)
    for kind in ex.KINDS:
        for e in exercises_of(kind):
            assert strings[f"exercises.q.{e.prompt_key}"].format(**e.fields)
            for step in e.steps:
                assert strings[f"exercises.step.{step.text}"].format(**step.fields)


# --- reading answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, value",
    [
        ("24", 24),
        (" 24 ", 24),
        ("+24", 24),
        ("-18", -18),
        ("\u221218", -18),
        ("61,706", 61706),
        ("61 706", 61706),
        ("1,234,567", 1234567),
        ("1,234.5", 1234.5),
        ("3.75", 3.75),
        (".5", 0.5),
        ("5.", 5),
        ("15/4", 3.75),
        ("-3 / 4", -0.75),
        ("\uff12\uff14", 24),
        ("2\u00a0416", 2416),
    ],
)
def test_parse_answer_accepts(text, value):
    assert parse_answer(text) == pytest.approx(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "24 kernels",
        "nan",
        "inf",
        "-inf",
        "1e5",
        "3,75",
        "1,2345",
        "1/0",
        "1..2",
        "--3",
        "9" * 400,
        None,
        24,
        "½",
    ],
)
def test_parse_answer_refuses(text):
    assert parse_answer(text) is None


def test_check_right_wrong_unparseable():
    e = make_exercise("parameters", 0)
    assert check(e.answer_text, e) == Verdict.RIGHT
    assert check(f"{int(e.answer):,}", e) == Verdict.RIGHT
    assert check(str(int(e.answer) + 1), e) == Verdict.WRONG
    assert check("many", e) == Verdict.UNPARSEABLE


def test_decimals_are_right_to_a_tolerance():
    e = next(
        make_exercise("pooling", s) for s in SEEDS if make_exercise("pooling", s).variant == "avg"
    )
    assert check(f"{e.answer:.2f}", e) == Verdict.RIGHT
    assert check(str(e.answer + 0.004), e) == Verdict.RIGHT
    assert check(str(e.answer + 0.25), e) == Verdict.WRONG
    integer = make_exercise("output_size", 0)
    assert check(str(integer.answer + 0.4), integer) == Verdict.WRONG


def test_score_counts_each_exercise_once_at_its_first_answer():
    score = Score()
    score = score.record("a", Verdict.UNPARSEABLE)
    assert (score.right, score.answered) == (0, 0)
    score = score.record("a", Verdict.WRONG).record("a", Verdict.RIGHT)
    assert (score.right, score.answered) == (0, 1)
    score = score.record("b", Verdict.RIGHT).record("b", Verdict.RIGHT)
    assert (score.right, score.answered) == (1, 2)
