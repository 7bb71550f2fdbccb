"""lenet.squashing: which layers squash with what, the sums that replace them, the ranges
before and after, and the trainable subsampling's coefficients."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from lenet import squashing, viz
from lenet.model import VARIANTS, build_model
from lenet.prototypes import paper_bitmaps
from lenet_testkit.apptest import run_page


def acts_of(model) -> dict[str, np.ndarray]:
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return {k: v[0].numpy() for k, v in model.activations(x).items()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_before_squashing_swaps_in_the_sums_and_the_facts_measure_them(variant):
    torch.manual_seed(0)
    model = build_model(variant).eval()
    acts = acts_of(model)
    before = squashing.before_squashing(acts)
    trainable = variant == "lecun1998"
    for name in squashing.SQUASHED:
        function = squashing.squashing_function(model, name)
        if name in ("s2", "s4") and not trainable:
            assert function is None and before[name] is acts[name]
            assert squashing.squash_facts(model, name, acts) is None
            assert squashing.subsampling_coefficients(model, name) is None
            continue
        assert before[name] is acts[f"{name}_pre"]
        facts = squashing.squash_facts(model, name, acts)
        assert facts["low_before"] == pytest.approx(float(acts[f"{name}_pre"].min()))
        assert facts["high"] == pytest.approx(float(acts[name].max()))
    assert squashing.squashing_function(model, "f6") == model.config.f6_activation
    if trainable:
        rows = squashing.subsampling_coefficients(model, "s4")
        assert [r["map"] for r in rows] == list(range(16))
        assert np.allclose([r["coefficient"] for r in rows], model.s4.weight.detach().numpy())
    with pytest.raises(ValueError, match="layer"):
        squashing.squashing_function(model, "logits")


def test_bitmaps_png_draws_ink_black_and_background_white():
    png = viz.bitmaps_png(paper_bitmaps(), scale=2)
    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    assert image.shape == (2 * 12, 2 * (10 * 8 - 1))
    one = image[:, 2 * 8 : 2 * 15][::2, ::2]  # the 1's picture
    ink = paper_bitmaps()[1] > 0
    assert one[ink].max() < 60 and one[~ink].min() > 200


def test_the_architecture_page_shows_the_ten_bitmaps():
    from lenet.i18n import translate

    at = run_page("pages/architecture.py", lang="zh")
    assert not at.exception
    captions = [c for image in at.get("image") for c in image.captions]
    assert translate("architecture.bitmaps_alt", "zh") in captions
