"""The app's two notes of doubt in a real browser: "low confidence" (naming the runner-up) on a real photo the model
hesitates on, "not sure" on colour noise, and never a "100%" anywhere on the page.

The hesitant photo is an ImageNet validation photo of imagenet-val-650, read through labkit.datasets at run time:
not redistributable, never copied into the repository.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from labkit.datasets import fetch

pytestmark = pytest.mark.browser

# The model hesitates on it between an ash can and a water jug (tests/test_honest_confidence.py checks the same).
HESITANT_PHOTO = "ILSVRC2012_val_00046857.JPEG"


@pytest.fixture(scope="module")
def hesitant_photo() -> Path:
    return fetch("imagenet-val-650", progress=False) / "images" / HESITANT_PHOTO


def test_a_hesitant_photo_gets_the_low_confidence_note_and_noise_the_not_sure_note_and_nothing_reads_100(
    dashboard, hesitant_photo, tmp_path
):
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(noise)

    dashboard.upload(hesitant_photo)
    dashboard.wait_for_cards(1)
    dashboard.upload(noise)
    dashboard.wait_for_cards(2)

    noise_card, photo_card = dashboard.results.first, dashboard.results.nth(1)  # the newest card is on top
    hesitant = photo_card.locator(".labkit-doubt").inner_text()
    assert hesitant.startswith("⚠ Low confidence: it hesitates between ashcan (") and ") and water jug (" in hesitant
    assert "Not sure" not in hesitant
    unfamiliar = noise_card.locator(".labkit-doubt").inner_text()
    assert "Not sure: this is probably none of the 1000 things I know" in unfamiliar
    page_text = dashboard.page.locator("body").inner_text()
    assert "100%" not in page_text and "100 %" not in page_text
    for card in (noise_card, photo_card):
        assert "100%" not in (card.locator("img.labkit-chart").get_attribute("alt") or "")
