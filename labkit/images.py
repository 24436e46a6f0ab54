"""Open any photo a student brings as a plain RGB image, or say clearly what is wrong with it.

The pipeline, in order (each step can stop with an :class:`ImageError` that says what to do):

1. **Read the bytes** from a path, ``bytes`` or a binary file object. The size limit (``max_bytes``) is checked
   *before* reading whenever the size is known (``os.stat`` for a path, ``seek`` for a file object).
2. **Sniff the first bytes** to recognise what is not a readable image: a PDF, an HTML page, a text file, an SVG
   drawing, an iPhone HEIC photo... The message names it and lists what works.
3. **Read the header** (Pillow opens lazily) and check the pixel count (``max_pixels``) before decoding anything:
   a 100 kB PNG can claim 60 000 x 60 000 pixels (a "decompression bomb").
4. **Decode cheaply**: a big JPEG is decoded at 1/2, 1/4 or 1/8 scale by Pillow's draft mode, never smaller than
   ``draft_size`` (224 x 224, the model's input, by default). The model only ever sees 224 x 224, and a scaled
   decode averages 8 x 8 blocks much as the resize's own reduction would; what it saves is the inverse DCT and the
   resize of pixels the model never sees (a 12-MP phone photo: decoded at 504 x 378 instead of 1008 x 756, its
   resize about ten times cheaper; ``benchmarks/engines.py`` times it).
5. **Load the first frame** (animated GIF/PNG/WebP and multi-page TIFF get a note), turn it the way the camera
   held it (EXIF orientation) and convert it to 8-bit RGB: 16-bit values are scaled (not clipped), transparent
   pixels become white (not black).

Notes about what was done (e.g. "animated image: using the first of 12 frames") are in
``image.info["labkit_notes"]``, a list of strings, empty when there is nothing to say.

Example:
    >>> image = load_image("data/samples/beagle.jpg")  # doctest: +SKIP
    >>> image.mode, image.info["labkit_notes"]  # doctest: +SKIP
    ('RGB', [])
"""

from __future__ import annotations

import base64
import io
import os
import stat
import warnings
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import ExifTags, Image, ImageOps

from labkit.errors import LabkitError
from labkit.paths import find_path, where_paths_start
from labkit.sniffing import SNIFF_BYTES, Sniffed, sniff_format
from labkit.words import capitalized

FileSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]
"""What :func:`load_image` reads: a path, the file's bytes, or a binary file object."""
ImageSource = Union[FileSource, Image.Image]
"""What labkit's functions take for a photo (classify, Grad-CAM...): a :data:`FileSource` or a PIL image."""

SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF")
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_MAX_BYTES = 25_000_000
DEFAULT_MAX_PIXELS = 50_000_000
# The model's 224 px: a JPEG is decoded at the smallest DCT scale that still leaves 224 pixels on both sides, so the
# model is never fed upscaled pixels (448 before: a 12-MP photo's resize took ten times as long, for mean pixel
# differences of 0.3 levels on 255).
DEFAULT_DRAFT_SIZE = (224, 224)
NOTES_KEY = "labkit_notes"
# What a file chooser offers (the app's and the lessons'); anything else still gets a clear message.
ACCEPTED_FILES = "image/*"

# Pillow's plugin names for the formats above. Its JPEG plugin also opens the JPEGs with extra preview frames
# that some cameras write (format "MPO").
_PILLOW_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
_FORMATS_THAT_WORK = "labkit reads " + ", ".join(SUPPORTED_FORMATS[:-1]) + f" and {SUPPORTED_FORMATS[-1]} images"


class ImageError(LabkitError, ValueError):
    """The source could not be turned into an image; the message says what was wrong and what to do."""


class ImageNotFoundError(ImageError, FileNotFoundError):
    """No file at the given path (``.filename``)."""

    def __init__(self, message: str, path: str | os.PathLike | None = None) -> None:
        super().__init__(message)
        self.filename = None if path is None else os.fspath(path)

    def __str__(self) -> str:
        # OSError would print "[Errno None] None: <path>" once filename is set; the message already names the path.
        return str(self.args[0]) if self.args else ""


class EmptyImageError(ImageError):
    """The file or data has zero bytes."""


class NotAnImageError(ImageError):
    """The data is something else: a PDF, a web page, a text file, an archive..."""


class CorruptImageError(ImageError):
    """The data starts like an image but is truncated or damaged."""


class UnsupportedFormatError(ImageError):
    """An image format labkit does not read (SVG, HEIC, AVIF, PSD...) or a colour mode it cannot convert."""


class FileTooLargeError(ImageError):
    """More bytes than ``max_bytes``."""


class TooManyPixelsError(ImageError):
    """More pixels than ``max_pixels`` (a decompression bomb, or simply a huge scan)."""


def load_image(
    source: FileSource,
    *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    draft_size: tuple[int, int] | None = DEFAULT_DRAFT_SIZE,
    name: str | None = None,
) -> Image.Image:
    """Load a photo as a fully decoded RGB image, turned upright by its EXIF orientation.

    Args:
        source: a path (``str`` or ``os.PathLike``), the file's bytes (``bytes``, ``bytearray``, ``memoryview``),
            or a binary file object (e.g. ``open(path, "rb")`` or ``io.BytesIO``).
        max_bytes: refuse larger files (checked before reading when the size is known); ``None``: no limit.
        max_pixels: refuse images with more pixels, from the header, before decoding; ``None``: only Pillow's own
            decompression-bomb limit applies.
        draft_size: JPEGs at least twice this size on both sides are decoded at a reduced scale (1/2, 1/4 or
            1/8), never below it; ``None`` decodes every pixel.
        name: a file name to show in error messages when ``source`` is bytes, e.g. an upload's name.

    Raises:
        ImageError: one of its subclasses (``ImageNotFoundError``, ``EmptyImageError``, ``NotAnImageError``,
            ``CorruptImageError``, ``UnsupportedFormatError``, ``FileTooLargeError``, ``TooManyPixelsError``).

    Example:
        >>> image = load_image("data/samples/beagle.jpg")  # doctest: +SKIP
        >>> image.mode  # doctest: +SKIP
        'RGB'
    """
    subject = describe_source(source, name=name)
    data = _read_bytes(source, subject, max_bytes)
    if not data:
        raise EmptyImageError(
            f"{capitalized(subject)} is empty (0 bytes): there is no picture in it. The download or copy may not "
            "have finished; save the image again and retry."
        )
    sniffed = sniff_format(data[:SNIFF_BYTES])
    if sniffed.kind == "unsupported":
        raise UnsupportedFormatError(
            f"{capitalized(subject)} is {sniffed.description}, an image format labkit cannot read. "
            f"Export or save it as JPEG or PNG and try again ({_FORMATS_THAT_WORK})."
        )
    if sniffed.kind == "not-image":
        raise NotAnImageError(
            f"{capitalized(subject)} is not an image: it looks like {sniffed.description}. "
            f"{_FORMATS_THAT_WORK}; save the picture itself in one of those formats (JPEG or PNG is safest)."
        )
    image, notes = _decode_first_frame(data, subject, sniffed, max_pixels, draft_size)
    image.info[NOTES_KEY] = notes
    return image


def as_image(source: ImageSource) -> Image.Image:
    """Return ``source`` as an RGB PIL image: a PIL image converted by :func:`to_rgb`, anything else loaded.

    The one place where labkit turns "a photo, however it was given" into pixels.

    Example:
        >>> as_image(Image.new("L", (4, 4))).mode
        'RGB'
    """
    return to_rgb(source) if isinstance(source, Image.Image) else load_image(source)


def describe_source(source: object, *, name: str | None = None) -> str:
    """Name a source for messages: its file name in quotes, or what kind of data it is.

    Example:
        >>> describe_source("photos/cat.jpg")
        "'cat.jpg'"
        >>> describe_source(b"...")
        'the image data'
    """
    if name:
        return f"'{Path(name).name}'"
    if isinstance(source, (str, os.PathLike)):
        return f"'{Path(os.fsdecode(source)).name}'"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "the image data"
    file_name = getattr(source, "name", None)
    if isinstance(file_name, str) and file_name:
        return f"'{Path(file_name).name}'"
    return "the image file object"


def iter_image_files(folder: str | os.PathLike) -> list[Path]:
    """List the image files directly in ``folder`` (by extension, not recursive), sorted by name.

    Hidden files are skipped: macOS leaves "._photo.jpg" companions beside copied photos that are not images.

    Example:
        >>> [path.name for path in iter_image_files("data/samples")][:1]  # doctest: +SKIP
        ['001_goldfish.jpg']
    """
    folder = find_path(folder)
    if not folder.is_dir():
        if folder.exists():
            raise ImageError(f"'{folder}' is a file, not a folder. Pass the folder that holds the images.")
        raise ImageNotFoundError(f"No folder at '{folder}'. Check the spelling; {where_paths_start()}.", folder)
    images = [
        path
        for path in folder.iterdir()
        if path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and path.is_file()
    ]
    return sorted(images, key=lambda path: (path.name.lower(), path.name))


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert an image in any common mode to 8-bit RGB, scaling 16-bit values and putting transparency on white.

    Example:
        >>> to_rgb(Image.new("I;16", (1, 1), 65535)).getpixel((0, 0))
        (255, 255, 255)
        >>> to_rgb(Image.new("RGBA", (1, 1), (0, 0, 0, 0))).getpixel((0, 0))
        (255, 255, 255)
    """
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I") or mode == "F":
        # Pillow's own convert clips these to 0..255, so a 16-bit photo would come out almost all white.
        return Image.fromarray(_gray_to_uint8(np.asarray(image), mode)).convert("RGB")
    if mode == "La":
        image, mode = image.convert("LA"), "LA"
    if mode in ("RGBA", "RGBa", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        # Transparent pixels are usually stored black; a page shows them on white, and so should the model.
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    if mode in ("1", "L", "P", "CMYK", "YCbCr", "RGBX"):
        return image.convert("RGB")
    raise UnsupportedFormatError(
        f"The image uses the {mode} colour mode, which labkit cannot convert to RGB. Open it in an image editor "
        "and save it as an ordinary RGB JPEG or PNG."
    )


def small_jpeg(image: Image.Image, size: int, quality: int = 85) -> bytes:
    """Return a small JPEG of ``image`` (longest side ``size`` pixels) for showing it in a page or a widget.

    The app's previews and the trainer's thumbnails both come from here; transparency goes on white, as for the
    model (:func:`to_rgb`).

    Example:
        >>> small_jpeg(Image.new("RGB", (4000, 3000)), 64)[:2]
        b'\\xff\\xd8'
    """
    small = image.copy()
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    to_rgb(small).save(buffer, format="JPEG", quality=quality, optimize=True)
    return buffer.getvalue()


def data_url(data: bytes, mime: str) -> str:
    """``data:<mime>;base64,...``: a picture a page or a widget shows without a file on disk or another request.

    Example:
        >>> data_url(b"GIF89a", "image/gif")
        'data:image/gif;base64,R0lGODlh'
    """
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _read_bytes(source: FileSource, subject: str, max_bytes: int | None) -> bytes:
    """Return all the bytes of ``source``, refusing more than ``max_bytes`` (before reading, when possible)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_size(len(data), subject, max_bytes)
        return data
    if isinstance(source, (str, os.PathLike)):
        return _read_path(os.fspath(source), subject, max_bytes)
    if isinstance(source, Image.Image):
        raise TypeError(
            "load_image() reads files and bytes; this is already a PIL image. "
            "Use labkit.images.to_rgb(image) to convert it to RGB."
        )
    if not callable(getattr(source, "read", None)):
        raise TypeError(f"load_image() takes a path, bytes or a binary file object, not {type(source).__name__}.")
    remaining = _remaining_size(source)
    if remaining is not None:
        _check_size(remaining, subject, max_bytes)
    data = source.read() if max_bytes is None else source.read(max_bytes + 1)
    if isinstance(data, str):
        raise TypeError(f"{capitalized(subject)} was opened as text; open it in binary mode: open(path, 'rb').")
    data = bytes(data or b"")
    _check_size(len(data), subject, max_bytes, known_size=remaining is not None)
    return data


def _read_path(given: str | bytes, subject: str, max_bytes: int | None) -> bytes:
    location = os.fsdecode(given)
    path = find_path(location)
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        hint = (
            " labkit does not download images: save the picture first, then give its path."
            if location.startswith(("http:", "https:"))
            else f" Check the spelling and the folder; {where_paths_start()}."
        )
        raise ImageNotFoundError(f"No image at '{location}': the file does not exist.{hint}", location) from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(
            f"'{location}' is a folder, not an image. Give the path of one image inside it, or list "
            "them with labkit.images.iter_image_files(folder)."
        )
    _check_size(info.st_size, subject, max_bytes)
    try:
        with open(path, "rb") as handle:
            return handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError as exc:
        raise ImageError(
            f"Could not read {subject}: {exc.strerror or exc}. Check that the file can be opened, then try again."
        ) from exc


def _remaining_size(stream: BinaryIO) -> int | None:
    """Bytes left in a seekable stream, without reading them; None when the stream cannot tell."""
    try:
        if hasattr(stream, "seekable") and not stream.seekable():
            return None
        position = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(position)
        return end - position
    except (OSError, AttributeError, ValueError):
        return None


def _check_size(size: int, subject: str, max_bytes: int | None, *, known_size: bool = True) -> None:
    if max_bytes is not None and size > max_bytes:
        # A stream that cannot seek was read only up to one byte past the limit, so its real size is unknown.
        how_big = f"is {_megabytes(size)}, over" if known_size else "is larger than"
        raise FileTooLargeError(
            f"{capitalized(subject)} {how_big} the {_megabytes(max_bytes)} limit. Shrink or "
            "re-save it as a smaller JPEG (a few megabytes is plenty: the model sees 224 x 224 pixels), or pass "
            "a larger max_bytes if you trust the file."
        )


def _decode_first_frame(
    data: bytes, subject: str, sniffed: Sniffed, max_pixels: int | None, draft_size: tuple[int, int] | None
) -> tuple[Image.Image, list[str]]:
    """Open ``data`` with Pillow, check its pixel count, decode its first frame and return it as upright RGB."""
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            # We enforce max_pixels ourselves; Pillow's warning would only repeat it, or contradict a raised limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS) as opened:
                _check_pixels(opened.size, subject, max_pixels)
                frames = getattr(opened, "n_frames", 1)
                if frames > 1 and opened.format != "MPO":  # MPO's extra frames are previews, not animation
                    kind = "multi-page TIFF" if opened.format == "TIFF" else "animated image"
                    unit = "pages" if opened.format == "TIFF" else "frames"
                    notes.append(f"{kind}: using the first of {frames} {unit}")
                if draft_size and opened.format in ("JPEG", "MPO"):
                    opened.draft("RGB", draft_size)
                opened.load()
                image = _upright(opened, notes)
                rgb = to_rgb(image)
                # Always hand back a plain in-memory image, never the lazily read file object. The copy costs about
                # 1 % of a forward pass (0.05 ms for 384 x 256); Pillow's private _new would skip it, for no change
                # a student could see.
                return (rgb.copy() if rgb is opened else rgb), notes
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise TooManyPixelsError(
            f"{capitalized(subject)} has too many pixels to decode safely ({exc}). Shrink it to a few thousand "
            "pixels per side and try again."
        ) from exc
    except Image.UnidentifiedImageError as exc:
        if sniffed.kind == "image":
            raise _corrupt(subject, sniffed, exc) from exc
        raise NotAnImageError(
            f"{capitalized(subject)} is not an image labkit can read: its first bytes match none of the formats "
            f"that work. {_FORMATS_THAT_WORK}; save the picture as JPEG or PNG and try again."
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, struct.error... on damaged data
        raise _corrupt(subject, sniffed, exc) from exc


def _check_pixels(size: tuple[int, int], subject: str, max_pixels: int | None) -> None:
    width, height = size
    if max_pixels is not None and width * height > max_pixels:
        raise TooManyPixelsError(
            f"{capitalized(subject)} is {width} x {height} pixels ({width * height / 1e6:.1f} megapixels), over "
            f"the {max_pixels / 1e6:g} megapixel limit that protects against decompression bombs. Shrink it to a "
            "few thousand pixels per side (the model sees 224 x 224), or pass a larger max_pixels if you trust "
            "the file."
        )


def _upright(image: Image.Image, notes: list[str]) -> Image.Image:
    """Rotate/flip ``image`` as its EXIF orientation tag asks; a damaged tag is noted, not fatal."""
    try:
        # Checked first because exif_transpose copies the whole image even when there is nothing to turn.
        if image.getexif().get(ExifTags.Base.Orientation, 1) in (1, None):
            return image
        return ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not cost the student their photo
        notes.append("could not read the EXIF orientation: showing the image as stored")
        return image


def _corrupt(subject: str, sniffed: Sniffed, exc: Exception) -> CorruptImageError:
    what = sniffed.description if sniffed.kind == "image" else "an image"
    detail = str(exc).split(" <_io.BytesIO")[0] or type(exc).__name__
    problem = "is cut short (truncated)" if "truncated" in detail.lower() else "is damaged"
    return CorruptImageError(
        f"{capitalized(subject)} looks like {what}, but its data {problem} (Pillow: {detail}). Download or copy "
        "the file again; if it still fails, open it in an image editor and save it as a new JPEG or PNG."
    )


def _gray_to_uint8(pixels: np.ndarray, mode: str) -> np.ndarray:
    """Scale a 16-bit, 32-bit integer or float grayscale array to 0..255."""
    if mode != "F":
        # "I;16*" hold 0..65535; files decoded as "I" (32-bit) carry the same 16-bit range.
        return np.round(np.clip(pixels.astype(np.float64), 0, 65535) / 257.0).astype(np.uint8)
    values = np.nan_to_num(pixels.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low >= 0.0 and high <= 1.0:  # a float image in [0, 1]
        values = values * 255.0
    elif (low < 0.0 or high > 255.0) and high > low:  # any other range: stretch it to fill 0..255
        values = (values - low) * (255.0 / (high - low))
    return np.round(np.clip(values, 0, 255)).astype(np.uint8)


def _megabytes(size: int) -> str:
    if size < 100_000:
        return f"{size / 1000:.1f} kB" if size >= 1000 else f"{size} bytes"
    return f"{size / 1e6:.1f}".removesuffix(".0") + " MB"
