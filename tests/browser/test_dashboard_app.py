"""The web app in a real browser: Debian's chromium, driven by Playwright, against a real Voilà server and the real
model. Each test opens a fresh tab (so a fresh kernel) and waits until the page says the model is ready.
"""

from __future__ import annotations

import numpy as np
import pytest
from accessibility import axe_violations, blocking, describe
from dashboard_page import DashboardPage
from PIL import Image
from serving import FAKE_CAMERA, TRAINING_CLASSES, TRAINING_PHOTOS, launch_chromium

from labkit.app.widgets import gallery_button_name
from labkit.export import describe_export
from labkit.samples import read_samples, sample_caption
from labkit.weights import readable_label

pytestmark = pytest.mark.browser

# Clear photos of one thing each, from ../shared/samples: the model's top-1 is right on them with a wide margin.
ZEBRA, PENGUIN, MUG = "340_zebra.jpg", "145_king_penguin.jpg", "504_coffee_mug.jpg"
# A photo the model gets wrong and hesitates on: a card with a doubtful answer.
LION = "291_lion.jpg"
# A gallery photo of data/samples, third in the gallery, that the model is sure of (pizza 99.6 %).
GALLERY_PHOTO = "pizza.jpg"
TORNADO_DEFAULT_MESSAGE_BYTES = 10 * 1024 * 1024  # what a websocket takes unless voila.json raises it


@pytest.fixture(scope="session")
def expected_label(sample_labels):
    """file name -> the readable ImageNet label that labels.csv gives it."""
    labels = {row["file"]: readable_label(row["label"]) for row in sample_labels}
    return labels.__getitem__


@pytest.fixture(scope="session")
def photo(samples_dir):
    return lambda name: samples_dir / name


def test_an_uploaded_photo_shows_its_label_with_a_chart_and_alt_text(dashboard, photo, expected_label):
    dashboard.upload(photo(ZEBRA))
    dashboard.wait_for_cards(1)

    card = dashboard.results.first
    assert card.locator(".labkit-best-label").inner_text() == expected_label(ZEBRA)
    assert ZEBRA in card.locator(".labkit-card-name").inner_text()
    assert "ms" in card.locator(".labkit-timing").inner_text()
    preview_alt = card.locator("img.labkit-preview").get_attribute("alt")
    chart_alt = card.locator("img.labkit-chart").get_attribute("alt")
    assert ZEBRA in preview_alt
    assert expected_label(ZEBRA) in chart_alt and "%" in chart_alt
    # strip_sources (voila.json): the page shows the app, never the notebook's code.
    assert "build_dashboard" not in dashboard.page.content()


def test_after_one_upload_the_app_needs_no_internet_draws_its_icons_and_passes_axe(dashboard, outside_requests, photo):
    dashboard.upload(photo(ZEBRA))
    dashboard.wait_for_cards(1)

    assert outside_requests == []  # every stylesheet, script and font came from the app's server
    icon = dashboard.page.locator(".labkit-upload .fa-upload")  # FileUpload's icon, drawn with Font Awesome's font
    assert icon.evaluate("icon => getComputedStyle(icon).fontFamily").strip('"').startswith("Font Awesome")
    assert icon.bounding_box()["width"] > 0
    assert dashboard.page.evaluate(
        "[...document.fonts].some(font => font.family.includes('Font Awesome') && font.status === 'loaded')"
    )
    # Landmarks: the app is the page's main part, and its parts are named regions a screen reader can jump to.
    assert dashboard.page.get_by_role("main").count() == 1
    for region in ("Which model answers", "Add photos", "Results", "No photo at hand? Try one of these:"):
        assert dashboard.page.get_by_role("region", name=region, exact=True).count() == 1, region
    violations = axe_violations(dashboard.page)
    assert not blocking(violations), describe(violations)
    assert not [violation for violation in violations if violation["id"] == "region"], describe(violations)


def test_the_answer_comes_into_view_after_an_upload_and_after_a_gallery_click(dashboard, photo):
    dashboard.upload(photo(ZEBRA), photo(PENGUIN), photo(MUG))
    dashboard.wait_for_cards(3)
    dashboard.wait_until_in_view(dashboard.cards.first)
    assert "3 results below" in dashboard.page.locator(".labkit-status").inner_text()

    # The gallery's last photo is at the bottom of the page, far below the results: its answer arrives out of sight.
    dashboard.click_sample(sample_caption(read_samples()[-1]))
    dashboard.wait_for_cards(4)
    dashboard.wait_until_in_view(dashboard.cards.first)
    assert "4 results below" in dashboard.page.locator(".labkit-status").inner_text()


def test_several_files_at_once_give_a_card_each(dashboard, photo, expected_label):
    dashboard.upload(photo(ZEBRA), photo(LION), photo(MUG))
    dashboard.wait_for_cards(3)

    names = dashboard.results.locator(".labkit-card-name").all_inner_texts()
    assert sorted(names) == sorted([ZEBRA, LION, MUG])
    assert expected_label(ZEBRA) in dashboard.best_labels()
    assert expected_label(MUG) in dashboard.best_labels()


def test_show_where_it_looked_puts_a_heatmap_on_the_card(dashboard, photo, expected_label):
    dashboard.upload(photo(MUG), photo(LION), photo(ZEBRA))  # the last one chosen ends up on top
    dashboard.wait_for_cards(3)
    card = dashboard.results.first
    assert card.locator(".labkit-best-label").inner_text() == expected_label(ZEBRA)
    button = card.get_by_role("button", name="Show where it looked")
    assert button.get_attribute("aria-expanded") == "false"

    overlay = dashboard.show_where_it_looked(card)  # with the keyboard: focus, Enter

    assert overlay.get_attribute("alt") == (
        f"Heatmap of where the model looked for '{expected_label(ZEBRA)}': warm "
        "colours mark the regions that raised that class's score"
    )
    assert overlay.evaluate("image => image.complete && image.naturalWidth") > 0
    hide = card.get_by_role("button", name="Hide where it looked")
    assert hide.get_attribute("aria-expanded") == "true"
    other = dashboard.results.nth(1).locator("img.labkit-looked-overlay")
    assert not other.is_visible() and other.get_attribute("src") is None  # other cards: nothing computed

    hide.click()
    overlay.wait_for(state="hidden")
    assert button.get_attribute("aria-expanded") == "false"


def test_colour_noise_gets_the_not_sure_note(dashboard, tmp_path):
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(noise)

    dashboard.upload(noise)
    dashboard.wait_for_cards(1)

    doubt = dashboard.results.first.locator(".labkit-doubt").inner_text()
    assert "Not sure: this is probably none of the 1000 things I know" in doubt


def test_a_model_exported_into_the_models_folder_can_be_picked_and_answers(
    context, exported_model_server, trashnet_dir, photo, expected_label
):
    url, export = exported_model_server
    dashboard = DashboardPage.open(context, url)
    dashboard.upload(photo(ZEBRA))
    dashboard.wait_for_cards(1)

    dashboard.choose_model(describe_export(export), ready_text=f"Ready: {export.name} (glass, metal)")
    unseen = sorted((trashnet_dir / "glass").glob("*.jpg"))[TRAINING_PHOTOS]  # not one it was trained on
    dashboard.upload(unseen)
    dashboard.wait_for_cards(2)

    card, earlier = dashboard.results.first, dashboard.results.nth(1)
    assert card.locator(".labkit-best-label").inner_text() in TRAINING_CLASSES
    assert card.locator(".labkit-answered-by").inner_text() == export.name
    assert earlier.locator(".labkit-best-label").inner_text() == expected_label(ZEBRA)  # earlier results stay
    assert earlier.locator(".labkit-answered-by").inner_text() == "MobileNetV2"


def test_a_dropped_photo_is_classified(dashboard, photo, expected_label):
    dashboard.drop(photo(PENGUIN))
    dashboard.wait_for_cards(1)

    assert dashboard.best_labels() == [expected_label(PENGUIN)]


def test_a_pasted_image_is_classified(dashboard, photo, expected_label):
    dashboard.paste(photo(MUG))
    dashboard.wait_for_cards(1)

    assert dashboard.best_labels() == [expected_label(MUG)]
    assert "pasted image" in dashboard.results.first.locator(".labkit-card-name").inner_text()


def test_a_bad_file_shows_its_message_and_the_next_photo_still_works(dashboard, photo, expected_label):
    dashboard.upload(("homework.jpg", b"Dear teacher, here is my homework.\n"))
    dashboard.wait_for_cards(1)
    problem = dashboard.problems.first
    assert "homework.jpg" in problem.inner_text()
    assert "is not an image: it looks like a text file" in problem.inner_text()

    dashboard.upload(photo(ZEBRA))
    dashboard.wait_for_cards(2)
    assert dashboard.best_labels() == [expected_label(ZEBRA)]
    assert dashboard.problems.count() == 1  # the earlier card stays

    dashboard.page.get_by_role("button", name="Clear results").click()
    dashboard.page.get_by_text("No photos yet").wait_for()
    assert dashboard.cards.count() == 0
    dashboard.drop(photo(PENGUIN))  # and the app goes on working after clearing
    dashboard.wait_for_cards(1)
    assert dashboard.best_labels() == [expected_label(PENGUIN)]


def test_clicking_a_sample_in_the_gallery_classifies_it(dashboard, expected_label):
    dashboard.click_sample(expected_label(PENGUIN))
    dashboard.wait_for_cards(1)

    assert dashboard.best_labels() == [expected_label(PENGUIN)]
    assert f"Sample photo: {expected_label(PENGUIN)}" in dashboard.results.first.inner_text()


def test_the_webcam_snapshot_gives_a_result_card(dashboard):
    # Chromium's fake camera (--use-fake-device-for-media-stream) shows a moving test pattern.
    dashboard.take_webcam_photo()
    dashboard.wait_for_cards(1)

    card = dashboard.results.first
    assert "webcam photo" in card.locator(".labkit-card-name").inner_text()
    assert card.locator(".labkit-best-label").inner_text()
    assert card.locator("img.labkit-chart").get_attribute("alt").startswith("Bar chart of the top 3 guesses")


@pytest.mark.parametrize(
    "camera_args, message",
    [
        ((), "No camera was found. Connect one and try again, or choose a photo instead."),
        ((FAKE_CAMERA,), "Camera access was refused. Allow the camera for this page"),  # nobody answers the prompt
    ],
    ids=["no camera", "permission refused"],
)
def test_without_a_usable_camera_the_webcam_button_says_what_to_do(playwright, voila_url, camera_args, message):
    chromium = launch_chromium(playwright, camera_args)
    try:
        dashboard = DashboardPage.open(chromium.new_context(), voila_url)
        dashboard.page.get_by_role("button", name="Take a photo").click()
        dashboard.page.get_by_text(message).wait_for()
        assert dashboard.cards.count() == 0
        dashboard.close()
    finally:
        chromium.close()


def test_the_keyboard_reaches_every_control_in_order_and_enter_classifies_a_sample(dashboard):
    pizza = read_samples()[[row["file"] for row in read_samples()].index(GALLERY_PHOTO)]
    gallery_button = gallery_button_name(sample_caption(pizza))
    gallery = [gallery_button_name(sample_caption(row)) for row in read_samples()]
    focused = []
    for _ in range(len(gallery) + 6):
        dashboard.page.keyboard.press("Tab")
        focused.append(
            dashboard.page.evaluate(
                "document.activeElement.getAttribute('aria-label') || document.activeElement.innerText"
            )
        )
    # Top to bottom: the model, the two ways in, then every gallery photo by its name (Clear waits for a result).
    assert focused[0].startswith("MobileNetV2")
    assert focused[1:3] == ["Choose photos to classify", "Take a photo"]
    assert focused[3 : 3 + len(gallery)] == gallery
    assert gallery_button in focused

    while dashboard.page.evaluate("document.activeElement.getAttribute('aria-label')") != gallery_button:
        dashboard.page.keyboard.press("Shift+Tab")
    dashboard.page.keyboard.press("Enter")
    dashboard.wait_for_cards(1)
    assert dashboard.best_labels() == [sample_caption(pizza)]


def test_a_photo_over_tornados_default_message_size_gets_through(dashboard, photo, expected_label, tmp_path):
    # An uncompressed TIFF of 2000 x 2000 pixels is 12 MB: more than a websocket message may carry unless
    # voila.json's websocket_max_message_size is in effect.
    big = tmp_path / "big zebra.tiff"
    Image.open(photo(ZEBRA)).convert("RGB").resize((2000, 2000)).save(big, format="TIFF")
    assert big.stat().st_size > TORNADO_DEFAULT_MESSAGE_BYTES

    dashboard.upload(big)
    dashboard.wait_for_cards(1)
    assert dashboard.best_labels() == [expected_label(ZEBRA)]


def test_a_file_over_the_upload_limit_is_refused_with_the_limit_named(dashboard, photo, tmp_path):
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(b"\xff\xd8\xff" + bytes(26_000_000))
    dashboard.upload(huge)  # FileUpload: it travels to the kernel, where labkit refuses it
    dashboard.wait_for_cards(1)
    assert "'huge.jpg' is 26 MB, over the 25 MB limit" in dashboard.problems.first.inner_text()

    dashboard.drop_file_of_size("huge scan.jpg", 26_000_000)  # the drop zone does not even send it
    dashboard.wait_for_cards(2)
    assert "'huge scan.jpg' is 26 MB, over the 25 MB upload limit" in dashboard.problems.first.inner_text()

    dashboard.drop(photo(ZEBRA))
    dashboard.wait_for_cards(3)
    assert dashboard.results.count() == 1


def test_three_browsers_at_once_all_get_results(browser, voila_url, photo, expected_label):
    contexts = [browser.new_context() for _ in range(3)]
    pages = []
    try:
        # Start all three page loads before waiting on any, so their kernels start and load the model together.
        pages += [DashboardPage.open(context, voila_url, wait=False) for context in contexts]
        for page in pages:
            page.wait_until_ready()
        files = [ZEBRA, PENGUIN, MUG]
        for page, file in zip(pages, files, strict=True):
            page.upload(photo(file))
        for page, file in zip(pages, files, strict=True):
            page.wait_for_cards(1)
            assert page.best_labels() == [expected_label(file)]
    finally:
        for page in pages:
            page.close()
        for context in contexts:
            context.close()
