"""The open sample photos: captions for the gallery (photos of none of the classes included) and their credits,
which the app shows under its gallery."""

from __future__ import annotations

from labkit.app.page import build_dashboard
from labkit.app.state import DashboardApp
from labkit.app.widgets import SampleGallery, sample_photos
from labkit.paths import SAMPLES_DIR
from labkit.samples import credits_html, photo_credits, read_samples, sample_caption
from labkit.weights import WeightsNotFound


def test_every_sample_has_a_caption_and_the_photos_of_no_class_are_named_by_their_file():
    captions = {row["file"]: sample_caption(row) for row in read_samples()}
    assert len(captions) == 18 and all(captions.values())
    assert captions["whale_shark.jpg"] == "whale shark" and captions["raccoon.jpg"] == "raccoon"
    assert captions["penguin.jpg"] == "king penguin"  # labelled photos show their class in plain words


def test_the_credits_name_an_author_and_licence_for_every_photo():
    credits = {credit.file: credit for credit in photo_credits()}
    assert set(credits) == {row["file"] for row in read_samples()}
    assert credits["grace_hopper.jpg"].licence.startswith("public domain")
    assert "Naval History" in credits["grace_hopper.jpg"].author


def test_the_credits_html_escapes_what_it_reads(tmp_path):
    (tmp_path / "CREDITS.md").write_text(
        "| file | class | author | licence | where |\n|---|---|---|---|---|\n"
        "| a.jpg | x | <script>Eve</script> | CC0 1.0 | here |\n"
    )
    page = credits_html(tmp_path)
    assert "&lt;script&gt;Eve&lt;/script&gt;" in page and "<script>" not in page


def test_the_app_shows_the_credits_right_under_the_gallery_and_captions_every_sample():
    def no_model():  # the page is built at once; this test never classifies
        raise WeightsNotFound("not needed here")

    assert [sample["label"] for sample in sample_photos(SAMPLES_DIR)][-3:] == ["raccoon", "whale shark", "person"]
    children = list(build_dashboard(DashboardApp(no_model), SAMPLES_DIR).children)
    gallery = next(index for index, child in enumerate(children) if isinstance(child, SampleGallery))
    credits = children[gallery + 1].value
    assert "Photo credits" in credits and "whale_shark.jpg" in credits and "CC0 1.0" in credits
