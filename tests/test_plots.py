"""The pictures students and the web app see: top-k bar charts (and their alt text), image grids, histograms.

Charts are checked by what they show (bar order, lengths, colours, the printed percentages), on a real
prediction for a real photo and on predictions built from chosen probabilities to reach each colour band.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from PIL import Image

from labkit import load_image
from labkit.paths import SAMPLES_DIR
from labkit.plots import (
    CONFIDENT_COLOUR,
    UNLIKELY_COLOUR,
    UNSURE_COLOUR,
    confidence_colour,
    figure_to_png,
    format_percent,
    plot_pixel_histogram,
    plot_top_k,
    show_channels,
    show_images,
    top_k_alt_text,
)
from labkit.predict import Prediction, confidence_band, top_k

LABELS = ["golden retriever", "Labrador retriever", "tennis ball", "Sealyham terrier", "kuvasz"]


def prediction_with(probabilities: list[float], not_sure: bool = False, labels=LABELS) -> Prediction:
    """A Prediction whose top-k has exactly these probabilities (the rest of the mass on no class shown)."""
    vector = np.asarray(probabilities, dtype=float)
    return Prediction(
        top=top_k(vector, labels[: len(vector)], [f"n{i:08d}" for i in range(len(vector))], k=len(vector)),
        elapsed_ms=12.0,
        logits=np.log(vector + 1e-9),
        not_sure=not_sure,
    )


@pytest.fixture(scope="module")
def beagle_prediction() -> Prediction:
    from labkit.model import shared_classifier

    return shared_classifier().classify(SAMPLES_DIR / "beagle.jpg", top=5)


@pytest.fixture(scope="module")
def shuttle():
    return load_image(SAMPLES_DIR / "space_shuttle.jpg")


def bars(figure: Figure):
    return figure.axes[0].patches


def bar_texts(figure: Figure) -> list[str]:
    return [text.get_text() for text in figure.axes[0].texts]


def y_labels(figure: Figure) -> list[str]:
    return [label.get_text().replace("\n", " ") for label in figure.axes[0].get_yticklabels()]


# --- plot_top_k -------------------------------------------------------------------------------------------------


def test_real_prediction_chart_shows_each_guess_best_on_top_with_its_percentage(beagle_prediction):
    figure = plot_top_k(beagle_prediction)
    ax = figure.axes[0]

    assert isinstance(figure, Figure)
    assert beagle_prediction.label == "beagle"
    assert y_labels(figure) == [score.label for score in beagle_prediction.top]
    assert ax.yaxis_inverted(), "the first tick (best guess) must be drawn at the top"
    widths = [bar.get_width() for bar in bars(figure)]
    assert widths == pytest.approx([100 * score.probability for score in beagle_prediction.top])
    assert widths == sorted(widths, reverse=True)
    assert bar_texts(figure) == [format_percent(score.probability) for score in beagle_prediction.top]
    assert ax.get_xlim() == (0, 100)


@pytest.mark.parametrize(
    "probability, colour",
    [
        (0.92, CONFIDENT_COLOUR),
        (0.60, CONFIDENT_COLOUR),
        (0.59, UNSURE_COLOUR),
        (0.30, UNSURE_COLOUR),
        (0.29, UNLIKELY_COLOUR),
        (0.01, UNLIKELY_COLOUR),
    ],
)
def test_bar_colour_follows_the_confidence_band(probability, colour):
    figure = plot_top_k(prediction_with([probability]))

    assert bars(figure)[0].get_facecolor() == to_rgba(colour)
    assert bar_texts(figure) == [f"{probability:.0%}"], "the percentage is printed too: colour is not the only cue"


@pytest.mark.parametrize(
    "probability, band, colour",
    [
        (0.60, "high", CONFIDENT_COLOUR),
        (0.59, "medium", UNSURE_COLOUR),
        (0.30, "medium", UNSURE_COLOUR),
        (0.29, "low", UNLIKELY_COLOUR),
    ],
)
def test_the_app_s_confidence_words_and_the_chart_s_colours_name_the_same_bands(probability, band, colour):
    assert confidence_band(probability) == band  # the app's "high" / "medium" / "low"
    assert confidence_colour(probability) == colour


def test_chart_of_an_unsure_prediction_mixes_bands_and_keeps_the_order():
    figure = plot_top_k(prediction_with([0.45, 0.35, 0.10]))

    assert [bar.get_facecolor() for bar in bars(figure)] == [
        to_rgba(UNSURE_COLOUR),
        to_rgba(UNSURE_COLOUR),
        to_rgba(UNLIKELY_COLOUR),
    ]
    assert bar_texts(figure) == ["45%", "35%", "10%"]


def test_percentages_stay_readable_inside_a_nearly_full_bar():
    figure = plot_top_k(prediction_with([0.97, 0.02, 0.004]))
    texts = figure.axes[0].texts

    assert [text.get_text() for text in texts] == ["97%", "2%", "<1%"]
    assert texts[0].get_position()[0] <= 100, "the 97% label must not fall off the 0-100% axis"
    assert to_rgba(texts[0].get_color()) == to_rgba("white")


def test_long_class_names_wrap_instead_of_squeezing_the_chart():
    long_name = "Sealyham terrier, Sealyham, a long Welsh terrier name"
    figure = plot_top_k(prediction_with([0.5, 0.3], labels=[long_name, "kuvasz"]))

    assert "\n" in figure.axes[0].get_yticklabels()[0].get_text()


def test_title_is_shown_only_when_given():
    assert plot_top_k(prediction_with([0.7, 0.2])).axes[0].get_title(loc="left") == ""
    assert plot_top_k(prediction_with([0.7, 0.2]), title="Top 2").axes[0].get_title(loc="left") == "Top 2"


def test_chart_can_be_drawn_into_an_existing_panel():
    figure = Figure()
    left, right = figure.subplots(1, 2)

    returned = plot_top_k(prediction_with([0.8, 0.1]), ax=right)

    assert returned is figure
    assert len(right.patches) == 2 and len(left.patches) == 0


def test_plotting_leaves_no_pyplot_figure_open(beagle_prediction, shuttle):
    before = plt.get_fignums()

    figure_to_png(plot_top_k(beagle_prediction))
    figure_to_png(show_images([shuttle, shuttle]))
    figure_to_png(plot_pixel_histogram(shuttle))

    assert plt.get_fignums() == before


# --- figure_to_png and alt text ---------------------------------------------------------------------------------


def test_figure_to_png_gives_a_png_of_the_figure_size(beagle_prediction):
    figure = plot_top_k(beagle_prediction)
    width, height = figure.get_size_inches()

    small = Image.open(io.BytesIO(figure_to_png(figure, dpi=50)))
    large = Image.open(io.BytesIO(figure_to_png(figure, dpi=100)))

    assert small.format == large.format == "PNG"
    assert large.size == (round(width * 100), round(height * 100))
    assert small.size == (round(width * 50), round(height * 50))


def test_figure_to_png_is_the_same_for_the_same_chart():
    prediction = prediction_with([0.7, 0.2, 0.05])

    assert figure_to_png(plot_top_k(prediction)) == figure_to_png(plot_top_k(prediction))


def test_alt_text_reads_out_every_bar_in_order(beagle_prediction):
    text = top_k_alt_text(beagle_prediction)

    assert text.startswith("Bar chart of the top 5 guesses: beagle ")
    spoken = ", ".join(f"{score.label} {format_percent(score.probability)}" for score in beagle_prediction.top)
    assert spoken in text
    assert bar_texts(plot_top_k(beagle_prediction)) == [
        format_percent(score.probability) for score in beagle_prediction.top
    ], "chart and text agree"


def test_alt_text_says_when_the_model_is_not_sure():
    assert top_k_alt_text(prediction_with([0.45, 0.35, 0.1], not_sure=True)) == (
        "Bar chart of the top 3 guesses: golden retriever 45%, Labrador retriever 35%, tennis ball 10%. "
        "The model is not sure."
    )
    assert top_k_alt_text(prediction_with([0.9])) == "Bar chart of the best guess: golden retriever 90%."


@pytest.mark.parametrize(
    "probability, text",
    [
        (0.0, "<1%"),
        (0.004, "<1%"),
        (0.005, "<1%"),
        (0.0051, "1%"),
        (0.5, "50%"),
        (0.994, "99%"),
        (0.995, ">99%"),
        (0.9999, ">99%"),
        (1.0, ">99%"),
    ],
)
def test_format_percent_rounds_to_whole_percent_and_says_less_than_1_or_more_than_99_at_the_ends(probability, text):
    # 0.005 is 0.5 %: Python rounds half to even, so it would read "0%"; whatever rounds to 0 % reads "<1%", and
    # whatever rounds to 100 % reads ">99%": a calibrated model is never certain.
    assert format_percent(probability) == text


def test_format_percent_never_shows_100_or_0_percent_at_any_precision():
    probabilities = np.concatenate([np.linspace(0, 1, 20001), [1e-12, 1 - 1e-12, 0.99949, 0.99951]])
    for decimals in (0, 1, 2):
        texts = {format_percent(float(value), decimals) for value in probabilities}
        assert f"{1:.{decimals}%}" not in texts and f"{0:.{decimals}%}" not in texts
    assert format_percent(0.99951, decimals=1) == ">99.9%" and format_percent(0.0004, decimals=1) == "<0.1%"


# --- show_images, show_channels, plot_pixel_histogram -----------------------------------------------------------


def test_show_images_lays_out_a_grid_with_titles(shuttle):
    pizza = load_image(SAMPLES_DIR / "pizza.jpg")
    figure = show_images([shuttle, pizza, shuttle, pizza, shuttle], titles=list("abcde"), columns=4)

    assert len(figure.axes) == 5
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in figure.axes] == [(2, 4)] * 5
    assert [ax.get_title() for ax in figure.axes] == list("abcde")
    assert not any(ax.axison for ax in figure.axes), "photos are shown without axes"


def test_show_images_uses_fewer_columns_for_fewer_images(shuttle):
    figure = show_images([shuttle, shuttle], columns=4)

    assert [ax.get_subplotspec().get_geometry()[:2] for ax in figure.axes] == [(1, 2)] * 2


def test_show_images_shows_a_model_input_as_the_photo_it_came_from(shuttle):
    from labkit.preprocess import resize_for_model, to_model_input

    figure = show_images([to_model_input(shuttle)])
    shown = figure.axes[0].get_images()[0].get_array()

    photo = np.asarray(resize_for_model(shuttle)) / 255
    assert shown.min() >= 0 and shown.max() <= 1
    assert np.abs(shown - photo).max() < 1e-5


def test_show_images_accepts_paths_and_arrays():
    path = SAMPLES_DIR / "tabby.jpg"
    figure = show_images([path, np.asarray(load_image(path))])

    first, second = (ax.get_images()[0].get_array() for ax in figure.axes)
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_show_images_asks_for_one_title_per_image(shuttle):
    with pytest.raises(ValueError, match="one title per image"):
        show_images([shuttle, shuttle], titles=["only one"])
    with pytest.raises(ValueError, match="at least one image"):
        show_images([])


def test_show_channels_shows_red_green_and_blue_as_brightness(shuttle):
    figure = show_channels(shuttle)
    pixels = np.asarray(shuttle)

    assert [ax.get_title() for ax in figure.axes] == ["red channel", "green channel", "blue channel"]
    for channel, ax in enumerate(figure.axes):
        image = ax.get_images()[0]
        assert np.array_equal(np.asarray(image.get_array()), pixels[..., channel])
        assert image.get_cmap().name == "gray" and image.get_clim() == (0, 255)


def test_pixel_histogram_counts_every_pixel_once_per_channel(shuttle):
    figure = plot_pixel_histogram(shuttle)
    ax = figure.axes[0]
    width, height = shuttle.size

    steps = ax.patches
    assert [step.get_label() for step in steps] == ["red", "green", "blue"]
    for step, channel in zip(steps, range(3), strict=True):
        counts = step.get_data().values
        assert counts.sum() == width * height
        expected, _ = np.histogram(np.asarray(shuttle)[..., channel], bins=64, range=(0, 256))
        assert np.array_equal(counts, expected)
    assert ax.get_xlim() == (0, 255)
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["red", "green", "blue"]


def test_pixel_histogram_of_a_white_image_is_one_spike_at_255():
    counts = plot_pixel_histogram(Image.new("RGB", (10, 10), "white")).axes[0].patches[0].get_data().values

    assert counts[-1] == 100 and counts[:-1].sum() == 0


def test_pixel_histogram_explains_what_it_wants_for_a_model_input(shuttle):
    from labkit.preprocess import to_model_input

    with pytest.raises(ValueError, match="0..255"):
        plot_pixel_histogram(np.asarray(shuttle, dtype=np.float32) / 255)
    with pytest.raises(ValueError, match="load_image"):
        plot_pixel_histogram(to_model_input(shuttle))


def test_a_guess_the_model_cannot_back_is_never_green():
    """The trainer's model taught on a handful of photos: its 94 % is drawn amber, like a hesitation, not green."""
    prediction = prediction_with([0.94, 0.04, 0.02])
    backed = [bar.get_facecolor() for bar in plot_top_k(prediction).axes[0].patches]
    unbacked = [bar.get_facecolor() for bar in plot_top_k(prediction, backed=False).axes[0].patches]
    assert backed[0] == to_rgba(CONFIDENT_COLOUR)
    assert unbacked[0] == to_rgba(UNSURE_COLOUR) and to_rgba(CONFIDENT_COLOUR) not in unbacked
    assert unbacked[1:] == backed[1:]
