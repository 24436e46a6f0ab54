"""Images that are none of ImageNet's 1000 classes, drawn on demand: noise, text pages, charts, textures, flat
colours and gradients. They test the "not sure" flag (:mod:`labkit.ood`) against real photos, and fit its threshold
(:mod:`labkit.calibrate`). They are generated, not the pictures a student will try: passing them says little about
a student's own odd photo.

Example:
    >>> [image.info["ood_kind"] for image in generate_ood_images(3, seed=1)]
    ['noise', 'document', 'chart']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

OOD_KINDS: tuple[str, ...] = ("noise", "document", "chart", "texture", "flat colour", "gradient")


_WORDS = (
    "the of and to in is that for it as with was on be by this are from at or an have not which data model "
    "image page report figure table results method section value learning network training class test "
    "number total sample error note see above below each first second"
).split()


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    red, green, blue = (int(value) for value in rng.integers(0, 256, size=3))
    return red, green, blue


def _noise(rng: np.random.Generator, size: int) -> Image.Image:
    style = rng.integers(4)
    if style == 0:  # every pixel and channel independent
        pixels = rng.integers(0, 256, size=(size, size, 3))
    elif style == 1:  # grey Gaussian noise
        pixels = np.repeat(rng.normal(128, 50, size=(size, size, 1)), 3, axis=2)
    elif style == 2:  # blocky noise, like an enlarged tiny random image
        cells = rng.integers(4, 32)
        small = rng.integers(0, 256, size=(cells, cells, 3)).astype(np.uint8)
        return Image.fromarray(small).resize((size, size), Image.Resampling.NEAREST)
    else:  # salt and pepper on a random background colour
        pixels = np.full((size, size, 3), _random_colour(rng), dtype=np.float64)
        speckle = rng.random((size, size))
        pixels[speckle < 0.1] = 0
        pixels[speckle > 0.9] = 255
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _document(rng: np.random.Generator, size: int) -> Image.Image:
    paper = tuple(int(value) for value in rng.integers(235, 256, size=3))
    page = Image.new("RGB", (size, size), paper)
    draw = ImageDraw.Draw(page)
    margin = int(size * rng.uniform(0.06, 0.12))
    heading_size, body_size = int(size * rng.uniform(0.06, 0.09)), int(size * rng.uniform(0.035, 0.05))
    heading, body = ImageFont.load_default(size=heading_size), ImageFont.load_default(size=body_size)
    ink = tuple(int(value) for value in rng.integers(0, 60, size=3))
    y = margin
    title = " ".join(rng.choice(_WORDS, size=rng.integers(2, 4))).capitalize()
    draw.text((margin, y), title, fill=ink, font=heading)
    y += int(heading_size * 1.8)
    while y < size - margin - body_size:
        words, line = rng.integers(3, 12), ""
        for word in rng.choice(_WORDS, size=words):
            if body.getlength(line + " " + word) > size - 2 * margin:
                break
            line = (line + " " + word).strip()
        draw.text((margin, y), line, fill=ink, font=body)
        y += int(body_size * (1.4 if rng.random() > 0.15 else 2.6))  # now and then a paragraph break
    return page


def _chart(rng: np.random.Generator, size: int) -> Image.Image:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(size / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    style = rng.integers(4)
    x = np.arange(rng.integers(5, 30))
    if style == 0:
        for _ in range(rng.integers(1, 4)):
            ax.plot(x, np.cumsum(rng.normal(size=len(x))), marker="o" if rng.random() > 0.5 else None)
    elif style == 1:
        ax.bar(x[:12], rng.uniform(1, 10, size=len(x[:12])), color=[_hex(_random_colour(rng))])
    elif style == 2:
        ax.scatter(rng.normal(size=80), rng.normal(size=80), s=12, c=rng.random(80), cmap="viridis")
    else:
        ax.pie(rng.uniform(1, 5, size=rng.integers(3, 7)))
    ax.set_title(" ".join(rng.choice(_WORDS, size=3)), fontsize=9)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def _hex(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


def _texture(rng: np.random.Generator, size: int) -> Image.Image:
    style = rng.integers(3)
    first, second = np.array(_random_colour(rng)), np.array(_random_colour(rng))
    rows, columns = np.mgrid[0:size, 0:size]
    if style == 0:  # stripes at a random angle
        angle, period = rng.uniform(0, np.pi), rng.uniform(6, 40)
        mix = (np.sin((columns * np.cos(angle) + rows * np.sin(angle)) * 2 * np.pi / period) > 0).astype(float)
    elif style == 1:  # checks
        cell = rng.integers(8, 48)
        mix = ((rows // cell + columns // cell) % 2).astype(float)
    else:  # smooth "cloudy" value noise: random grids of several sizes, enlarged and summed (Perlin-ish)
        mix = np.zeros((size, size))
        for octave in range(1, 5):
            cells = 2 ** (octave + 1)
            grid = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
            mix += np.asarray(grid.resize((size, size), Image.Resampling.BICUBIC), dtype=float) / 255 / octave
        mix = (mix - mix.min()) / max(mix.max() - mix.min(), 1e-9)
    pixels = first * mix[..., None] + second * (1 - mix[..., None])
    return Image.fromarray(pixels.astype(np.uint8))


def _flat_colour(rng: np.random.Generator, size: int) -> Image.Image:
    return Image.new("RGB", (size, size), _random_colour(rng))


def _gradient(rng: np.random.Generator, size: int) -> Image.Image:
    first, second = np.array(_random_colour(rng)), np.array(_random_colour(rng))
    rows, columns = np.mgrid[0:size, 0:size] / (size - 1)
    if rng.random() < 0.5:  # linear, at a random angle
        angle = rng.uniform(0, 2 * np.pi)
        mix = columns * np.cos(angle) + rows * np.sin(angle)
    else:  # radial, from a random centre
        centre = rng.random(2)
        mix = np.hypot(rows - centre[0], columns - centre[1])
    mix = (mix - mix.min()) / max(mix.max() - mix.min(), 1e-9)
    pixels = first * mix[..., None] + second * (1 - mix[..., None])
    return Image.fromarray(pixels.astype(np.uint8)).filter(ImageFilter.SMOOTH)


_GENERATORS: dict[str, Callable[[np.random.Generator, int], Image.Image]] = {
    "noise": _noise,
    "document": _document,
    "chart": _chart,
    "texture": _texture,
    "flat colour": _flat_colour,
    "gradient": _gradient,
}


def generate_ood_images(
    n: int = 60, seed: int = 0, kinds: Sequence[str] = OOD_KINDS, size: int = 256
) -> list[Image.Image]:
    """Draw ``n`` RGB images that are none of ImageNet's 1000 classes, taking ``kinds`` in turn.

    Kinds: ``"noise"``, ``"document"`` (a page of text drawn with Pillow), ``"chart"`` (matplotlib), ``"texture"``
    (stripes, checks, cloudy noise), ``"flat colour"`` and ``"gradient"``. Each image's kind is in
    ``image.info["ood_kind"]``. The same ``seed`` gives the same images.

    Example:
        >>> images = generate_ood_images(6, seed=1)
        >>> [image.info["ood_kind"] for image in images][:3], images[0].size
        (['noise', 'document', 'chart'], (256, 256))
    """
    unknown = [kind for kind in kinds if kind not in _GENERATORS]
    if unknown:
        raise ValueError(f"Unknown kinds {unknown}: choose from {list(_GENERATORS)}.")
    rng = np.random.default_rng(seed)
    images = []
    for position in range(n):
        kind = kinds[position % len(kinds)]
        image = _GENERATORS[kind](rng, size).convert("RGB")
        image.info["ood_kind"] = kind
        images.append(image)
    return images
