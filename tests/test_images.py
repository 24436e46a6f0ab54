"""load_image: any photo a student brings loads as upright RGB, or fails with a message saying what is wrong and
what to do. Bad files are made in tmp_path from the real sample photos in ../shared/samples."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import ExifTags, Image, ImageFile

from labkit.images import (
    IMAGE_EXTENSIONS,
    SUPPORTED_FORMATS,
    CorruptImageError,
    EmptyImageError,
    FileTooLargeError,
    ImageError,
    ImageNotFoundError,
    NotAnImageError,
    TooManyPixelsError,
    UnsupportedFormatError,
    as_image,
    describe_source,
    iter_image_files,
    load_image,
    sniff_format,
    to_rgb,
)

SAMPLE = "207_golden_retriever.jpg"  # 256 x 427, portrait
FORMATS_THAT_WORK = "JPEG, PNG, GIF, BMP, WebP and TIFF"


@pytest.fixture
def photo_path(samples_dir: Path) -> Path:
    return samples_dir / SAMPLE


@pytest.fixture
def photo_bytes(photo_path: Path) -> bytes:
    return photo_path.read_bytes()


@pytest.fixture
def photo(photo_path: Path) -> Image.Image:
    with Image.open(photo_path) as image:
        return image.convert("RGB")


def encode(image: Image.Image, format: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_file(width: int, height: int, *, bit_depth: int = 8, color_type: int = 0, rows: bytes | None = None) -> bytes:
    """A PNG written by hand, for what Pillow cannot save (16-bit RGB) or a header without pixel data."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    pixels = [] if rows is None else [png_chunk(b"IDAT", zlib.compress(rows))]
    return b"".join([b"\x89PNG\r\n\x1a\n", png_chunk(b"IHDR", header), *pixels, png_chunk(b"IEND", b"")])


def mean_difference(first: Image.Image, second: Image.Image) -> float:
    return float(np.abs(np.asarray(first, np.float32) - np.asarray(second, np.float32)).mean())


# ---------------------------------------------------------------------------------------------------- good inputs


def test_every_shared_sample_loads_as_the_same_rgb_pixels_pillow_decodes(samples_dir: Path, sample_labels):
    paths = iter_image_files(samples_dir)
    assert [path.name for path in paths] == sorted(row["file"] for row in sample_labels)
    for path in paths:
        image = load_image(path)
        with Image.open(path) as reference:
            assert image.mode == "RGB" and image.size == reference.size, path.name
            assert np.array_equal(np.asarray(image), np.asarray(reference.convert("RGB"))), path.name
        assert image.info["labkit_notes"] == []


class NonSeekableStream(io.RawIOBase):
    """A pipe or network stream: readable once, cannot seek or tell its size."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_paths_bytes_and_file_objects_give_the_same_pixels(photo_path: Path, photo_bytes: bytes):
    expected = np.asarray(load_image(str(photo_path)))
    with open(photo_path, "rb") as handle:
        sources = [
            photo_path,
            photo_bytes,
            bytearray(photo_bytes),
            memoryview(photo_bytes),
            io.BytesIO(photo_bytes),
            handle,
            NonSeekableStream(photo_bytes),
        ]
        for source in sources:
            assert np.array_equal(np.asarray(load_image(source)), expected), type(source).__name__


def test_the_returned_image_is_fully_loaded_and_the_file_closed(tmp_path: Path, photo_bytes: bytes):
    path = tmp_path / "photo.jpg"
    path.write_bytes(photo_bytes)
    image = load_image(path)
    assert str(path) not in [open_file.path for open_file in psutil.Process().open_files()]
    path.unlink()
    assert not isinstance(image, ImageFile.ImageFile)  # a plain in-memory image, not a lazily read file
    assert image.getpixel((0, 0)) == load_image(photo_bytes).getpixel((0, 0))


def test_exif_orientation_6_turns_the_photo_upright(tmp_path: Path, photo: Image.Image):
    stored = photo.copy()  # as the sensor wrote it: 256 wide, 427 high
    stored.paste((255, 0, 0), (0, 0, 48, 48))  # a red mark in the stored top-left corner
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # "turn 90 degrees clockwise to display"
    path = tmp_path / "sideways.jpg"
    stored.save(path, quality=95, exif=exif)

    image = load_image(path)

    assert image.size == (stored.height, stored.width)
    width = image.width
    assert image.getpixel((width - 24, 24)) == pytest.approx((255, 0, 0), abs=12)  # the mark is now top-right
    assert image.getpixel((24, 24)) != pytest.approx((255, 0, 0), abs=12)
    assert mean_difference(image, stored.transpose(Image.Transpose.ROTATE_270)) < 3


def test_a_big_jpeg_is_decoded_at_reduced_scale_but_never_below_the_draft_size(tmp_path: Path, photo: Image.Image):
    path = tmp_path / "camera.jpg"
    photo.resize((4000, 3000), Image.Resampling.BILINEAR).save(path, quality=85)

    image = load_image(path)
    full = load_image(path, draft_size=None)

    assert full.size == (4000, 3000)
    assert 224 <= min(image.size) <= 2 * 224  # the model's input size, never less
    assert image.width / image.height == pytest.approx(4 / 3, rel=0.01)
    assert mean_difference(image, full.resize(image.size, Image.Resampling.BOX)) < 4


GRAY_16 = [[0, 65535], [32896, 25700]]  # -> 0, 255, 128, 100 in 8 bits
GRAY_16_AS_RGB = [(0, 0, 0), (255, 255, 255), (128, 128, 128), (100, 100, 100)]


def palette_image(colors: list[tuple[int, int, int]], indexes: list[list[int]]) -> Image.Image:
    image = Image.frombytes("P", (len(indexes[0]), len(indexes)), np.array(indexes, np.uint8).tobytes())
    image.putpalette([channel for color in colors for channel in color])
    return image


def mode_cases() -> list:
    rgb16 = np.array([[[65535, 0, 32896], [0, 65535, 0]]], np.uint16).astype(">u2")
    rows_16bit_rgb = b"".join(b"\0" + row.tobytes() for row in rgb16)
    transparent_palette = palette_image([(0, 0, 0), (255, 0, 0)], [[0, 1]])
    return [
        pytest.param(
            encode(Image.fromarray(np.array(GRAY_16, np.uint16)), "PNG"),
            "I;16",
            GRAY_16_AS_RGB,
            id="16-bit grayscale PNG",
        ),
        pytest.param(
            encode(Image.frombytes("I;16B", (2, 2), np.array(GRAY_16, ">u2").tobytes()), "TIFF"),
            "I;16B",
            GRAY_16_AS_RGB,
            id="16-bit big-endian grayscale TIFF",
        ),
        pytest.param(
            encode(Image.fromarray(np.array(GRAY_16, np.int32)), "TIFF"),
            "I",
            GRAY_16_AS_RGB,
            id="32-bit integer TIFF holding 16-bit values",
        ),
        pytest.param(
            encode(Image.fromarray(np.array([[0.0, 1.0], [0.5, 0.2]], np.float32)), "TIFF"),
            "F",
            [(0, 0, 0), (255, 255, 255), (128, 128, 128), (51, 51, 51)],
            id="float TIFF in [0, 1]",
        ),
        pytest.param(
            png_file(2, 1, bit_depth=16, color_type=2, rows=rows_16bit_rgb),
            "RGB",
            [(255, 0, 128), (0, 255, 0)],
            id="16-bit RGB PNG",
        ),
        pytest.param(
            encode(palette_image([(0, 0, 255), (255, 0, 0)], [[0, 1]]), "PNG"),
            "P",
            [(0, 0, 255), (255, 0, 0)],
            id="palette PNG",
        ),
        pytest.param(
            encode(transparent_palette, "PNG", transparency=0),
            "P",
            [(255, 255, 255), (255, 0, 0)],
            id="palette PNG with a transparent colour",
        ),
        pytest.param(
            encode(transparent_palette, "GIF", transparency=0),
            "P",
            [(255, 255, 255), (255, 0, 0)],
            id="GIF with a transparent colour",
        ),
        pytest.param(
            encode(
                Image.fromarray(np.array([[[10, 20, 30], [200, 0, 0]]], np.uint8)), "PNG", transparency=(10, 20, 30)
            ),
            "RGB",
            [(255, 255, 255), (200, 0, 0)],
            id="RGB PNG with a transparent colour",
        ),
        pytest.param(
            encode(Image.fromarray(np.array([[0, 77]], np.uint8)), "PNG"),
            "L",
            [(0, 0, 0), (77, 77, 77)],
            id="grayscale PNG",
        ),
        pytest.param(
            encode(Image.fromarray(np.array([[[0, 0], [50, 255], [0, 128]]], np.uint8)), "PNG"),
            "LA",
            [(255, 255, 255), (50, 50, 50), (128, 128, 128)],
            id="grayscale with alpha PNG",
        ),
        pytest.param(
            encode(Image.fromarray(np.array([[False, True]])), "BMP"),
            "1",
            [(0, 0, 0), (255, 255, 255)],
            id="black-and-white BMP",
        ),
        pytest.param(
            encode(Image.fromarray(np.array([[[0, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128]]], np.uint8)), "PNG"),
            "RGBA",
            [(255, 255, 255), (255, 0, 0), (127, 127, 127)],
            id="RGBA PNG",
        ),
        pytest.param(
            encode(Image.fromarray(np.array([[[0, 0, 0, 0], [0, 128, 0, 255]]], np.uint8)), "WEBP", lossless=True),
            "RGBA",
            [(255, 255, 255), (0, 128, 0)],
            id="lossless WebP with alpha",
        ),
    ]


@pytest.mark.parametrize(("data", "stored_mode", "expected_pixels"), mode_cases())
def test_each_colour_mode_becomes_rgb_with_sensible_values(data: bytes, stored_mode: str, expected_pixels: list):
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.mode == stored_mode  # the file really exercises that mode
    image = load_image(data)
    assert image.mode == "RGB"
    np.testing.assert_allclose(np.asarray(image).reshape(-1, 3), expected_pixels, atol=1)


def test_a_cmyk_jpeg_looks_like_the_rgb_photo(photo: Image.Image):
    data = encode(photo.convert("CMYK"), "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.mode == "CMYK"
    assert mean_difference(load_image(data), photo) < 4


def three_colour_frames() -> list[Image.Image]:
    return [Image.new("RGB", (32, 24), color) for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]


@pytest.mark.parametrize(
    ("format", "params"),
    [("GIF", {"duration": 100, "loop": 0}), ("PNG", {"duration": 100}), ("WEBP", {"duration": 100, "lossless": True})],
    ids=["GIF", "APNG", "WebP"],
)
def test_an_animated_image_gives_its_first_frame_and_a_note(format: str, params: dict):
    first, *rest = three_colour_frames()
    image = load_image(encode(first, format, save_all=True, append_images=rest, **params))
    assert image.mode == "RGB" and image.size == (32, 24)
    assert image.getpixel((16, 12)) == pytest.approx((255, 0, 0), abs=2)
    assert image.info["labkit_notes"] == ["animated image: using the first of 3 frames"]


def test_a_multi_page_tiff_gives_its_first_page_and_a_note():
    first, *rest = three_colour_frames()
    image = load_image(encode(first, "TIFF", save_all=True, append_images=rest[:1]))
    assert image.getpixel((0, 0)) == (255, 0, 0)
    assert image.info["labkit_notes"] == ["multi-page TIFF: using the first of 2 pages"]


def test_to_rgb_converts_an_image_already_in_memory():
    image = to_rgb(Image.new("RGBA", (2, 2), (0, 0, 0, 0)))
    assert image.mode == "RGB" and image.getpixel((1, 1)) == (255, 255, 255)


# ----------------------------------------------------------------------------------------------------- bad inputs


def fake_iso_media(brand: bytes, compatible: list[bytes], payload: bytes) -> bytes:
    brands = b"".join(compatible)
    ftyp = struct.pack(">I", 16 + len(brands)) + b"ftyp" + brand + b"\0\0\0\0" + brands
    return ftyp + struct.pack(">I", 8 + len(payload)) + b"mdat" + payload


def zip_holding(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def flip_bytes(data: bytes, start: int, length: int) -> bytes:
    damaged = bytearray(data)
    for index in range(start, start + length):
        damaged[index] ^= 0xFF
    return bytes(damaged)


# (how to make the bad file from the real photo's bytes, the error, phrases the message must contain)
BAD_FILES = {
    "empty file": (lambda photo: b"", EmptyImageError, ["is empty (0 bytes)", "save the image again"]),
    "truncated JPEG": (
        lambda photo: photo[: len(photo) // 2],
        CorruptImageError,
        ["looks like a JPEG image", "cut short (truncated)", "Download or copy the file again"],
    ),
    "JPEG with damaged data": (
        lambda photo: flip_bytes(photo, len(photo) // 3, 2000),
        CorruptImageError,
        ["looks like a JPEG image", "is damaged", "save it as a new JPEG or PNG"],
    ),
    "JPEG with damaged header": (
        lambda photo: flip_bytes(photo, 20, 400),
        CorruptImageError,
        ["looks like a JPEG image", "is damaged"],
    ),
    "truncated PNG": (
        lambda photo: encode(Image.open(io.BytesIO(photo)), "PNG")[:5000],
        CorruptImageError,
        ["looks like a PNG image", "truncated"],
    ),
    "PDF": (
        lambda photo: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n" + photo,
        NotAnImageError,
        ["is not an image", "a PDF document", FORMATS_THAT_WORK, "JPEG or PNG"],
    ),
    "HTML page": (
        lambda photo: (
            b"<!DOCTYPE html>\n<html><head><title>Golden retriever - Search</title></head>"
            b"<body><img src='dog.jpg'></body></html>\n"
        ),
        NotAnImageError,
        ["is not an image", "an HTML web page", "Save image as", FORMATS_THAT_WORK],
    ),
    "JSON": (
        lambda photo: b'{"label": "golden retriever", "probability": 0.91}\n',
        NotAnImageError,
        ["is not an image", "JSON", FORMATS_THAT_WORK],
    ),
    "text file": (
        lambda photo: "A golden retriever, photographed in the park. Caf\u00e9 at the corner.\n".encode() * 20,
        NotAnImageError,
        ["is not an image", "a text file", FORMATS_THAT_WORK],
    ),
    "ZIP archive": (
        lambda photo: zip_holding(SAMPLE, photo),
        NotAnImageError,
        ["is not an image", "a ZIP archive", FORMATS_THAT_WORK],
    ),
    "SVG": (
        lambda photo: (
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<rect width="10" height="10" fill="red"/></svg>'
        ),
        UnsupportedFormatError,
        ["an SVG drawing", "cannot read", "Export or save it as JPEG or PNG", FORMATS_THAT_WORK],
    ),
    "SVG with an XML prolog": (
        lambda photo: (
            b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            b"<!-- Created with Inkscape (http://www.inkscape.org/) -->\n"
            b'<svg xmlns="http://www.w3.org/2000/svg"></svg>\n'
        ),
        UnsupportedFormatError,
        ["an SVG drawing", "Export or save it as JPEG or PNG"],
    ),
    "HEIC": (
        lambda photo: fake_iso_media(b"heic", [b"mif1", b"heic"], photo),
        UnsupportedFormatError,
        ["a HEIC/HEIF image", "iPhone", "Export or save it as JPEG or PNG", FORMATS_THAT_WORK],
    ),
    "AVIF": (
        lambda photo: fake_iso_media(b"avif", [b"avif", b"mif1", b"miaf"], photo),
        UnsupportedFormatError,
        ["an AVIF image", "Export or save it as JPEG or PNG"],
    ),
    "unknown binary": (
        lambda photo: bytes(range(7, 256)) + photo[:4096],
        NotAnImageError,
        ["is not an image labkit can read", FORMATS_THAT_WORK],
    ),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_says_what_is_wrong_and_what_to_do(kind: str, tmp_path: Path, photo_bytes: bytes):
    make, error_type, phrases = BAD_FILES[kind]
    path = tmp_path / "holiday_photo.jpg"  # students' files are often named .jpg whatever they hold
    path.write_bytes(make(photo_bytes))

    with pytest.raises(error_type) as caught:
        load_image(path)

    message = str(caught.value)
    assert message.startswith("'holiday_photo.jpg' ")
    for phrase in phrases:
        assert phrase in message
    assert "Traceback" not in message and "BytesIO" not in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("kind", ["truncated JPEG", "JPEG with damaged data", "truncated PNG"])
def test_a_corrupt_image_keeps_pillows_error_as_its_cause(kind: str, photo_bytes: bytes):
    make, error_type, _ = BAD_FILES[kind]
    with pytest.raises(error_type) as caught:
        load_image(make(photo_bytes))
    assert caught.value.__cause__ is not None
    assert str(caught.value).startswith("The image data looks like")


def test_an_upload_is_named_by_the_name_given(photo_bytes: bytes):
    with pytest.raises(UnsupportedFormatError, match="^'IMG_0042.HEIC' is a HEIC/HEIF image"):
        load_image(fake_iso_media(b"heic", [b"mif1"], photo_bytes), name="IMG_0042.HEIC")


def test_after_a_bad_file_the_next_photo_still_loads(photo_bytes: bytes):
    with pytest.raises(CorruptImageError):
        load_image(photo_bytes[:20000])
    assert load_image(photo_bytes).size == (256, 427)


def test_a_missing_file_names_its_path(tmp_path: Path):
    missing = tmp_path / "photos" / "dog.jpg"
    with pytest.raises(ImageNotFoundError) as caught:
        load_image(missing)
    assert isinstance(caught.value, FileNotFoundError) and isinstance(caught.value, ImageError)
    assert caught.value.filename == str(missing)
    assert str(caught.value).startswith(f"No image at '{missing}': the file does not exist. Check the spelling")


def test_a_web_address_is_not_downloaded():
    with pytest.raises(ImageNotFoundError, match="labkit does not download images: save the picture first"):
        load_image("https://example.org/dog.jpg")


def test_a_folder_is_not_an_image(tmp_path: Path):
    with pytest.raises(ImageError, match="is a folder, not an image.*iter_image_files"):
        load_image(tmp_path)


def test_a_large_file_is_refused_from_its_size_before_reading_it(tmp_path: Path):
    path = tmp_path / "scan.tif"
    with open(path, "wb") as handle:
        handle.truncate(100_000_000)  # sparse: 100 MB on paper, nothing on disk
    with pytest.raises(FileTooLargeError) as caught:
        load_image(path)
    # Only os.stat can know the full 100 MB: reading would have stopped one byte past the limit.
    assert str(caught.value).startswith("'scan.tif' is 100 MB, over the 25 MB limit. Shrink or re-save it")
    assert "max_bytes" in str(caught.value)


def test_max_bytes_applies_to_bytes_and_seekable_streams_before_reading(photo_bytes: bytes):
    with pytest.raises(FileTooLargeError, match=r"^The image data is 63\.8 kB, over the 10\.0 kB limit"):
        load_image(photo_bytes, max_bytes=10_000)
    stream = io.BytesIO(photo_bytes)
    with pytest.raises(FileTooLargeError, match=r"is 63\.8 kB, over the 10\.0 kB limit"):
        load_image(stream, max_bytes=10_000)
    assert stream.tell() == 0  # refused from its size, nothing read
    assert load_image(photo_bytes, max_bytes=len(photo_bytes)).size == (256, 427)


def test_max_bytes_applies_to_streams_that_cannot_seek(photo_bytes: bytes):
    with pytest.raises(FileTooLargeError, match=r"^The image file object is larger than the 10\.0 kB limit"):
        load_image(NonSeekableStream(photo_bytes), max_bytes=10_000)


def test_too_many_pixels_is_refused_with_the_dimensions(tmp_path: Path):
    path = tmp_path / "poster.png"
    Image.new("1", (10_000, 6_000)).save(path)  # 60 megapixels in a few kilobytes
    with pytest.raises(TooManyPixelsError) as caught:
        load_image(path)
    assert str(caught.value).startswith(
        "'poster.png' is 10000 x 6000 pixels (60.0 megapixels), over the 50 megapixel limit"
    )
    assert "Shrink it to a few thousand pixels per side" in str(caught.value)


def test_the_pixel_limit_is_checked_from_the_header_before_decoding():
    header_only = png_file(10_000, 6_000)  # no pixel data at all: decoding it would fail as corrupt
    with pytest.raises(TooManyPixelsError, match="10000 x 6000 pixels"):
        load_image(header_only)


def test_pillows_own_decompression_bomb_limit_still_applies_without_max_pixels():
    bomb = png_file(20_000, 10_000)  # 200 megapixels: over twice Pillow's default limit
    with pytest.raises(TooManyPixelsError, match="too many pixels to decode safely") as caught:
        load_image(bomb, max_pixels=None)
    assert isinstance(caught.value.__cause__, Image.DecompressionBombError)


def test_things_that_are_not_sources_raise_type_errors(photo: Image.Image, photo_path: Path):
    with pytest.raises(TypeError, match="already a PIL image.*to_rgb"):
        load_image(photo)
    with pytest.raises(TypeError, match="not int"):
        load_image(42)
    with open(photo_path, encoding="latin-1") as text_handle, pytest.raises(TypeError, match="binary mode"):
        load_image(text_handle)


# -------------------------------------------------------------------------------------------- helpers and constants


def test_iter_image_files_lists_images_by_extension_sorted_and_not_recursive(tmp_path: Path, photo_bytes: bytes):
    for name in ["b.png", "A.JPG", "c.webp", "d.tiff", "notes.txt", "._a.jpg", "labels.csv"]:
        (tmp_path / name).write_bytes(photo_bytes)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.jpg").write_bytes(photo_bytes)
    (tmp_path / "folder.jpg").mkdir()

    assert [path.name for path in iter_image_files(tmp_path)] == ["A.JPG", "b.png", "c.webp", "d.tiff"]


def test_iter_image_files_explains_a_missing_folder(tmp_path: Path):
    with pytest.raises(ImageNotFoundError, match="No folder at"):
        iter_image_files(tmp_path / "nope")


def test_the_formats_that_work_and_their_extensions():
    assert SUPPORTED_FORMATS == ("JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF")
    assert IMAGE_EXTENSIONS == (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")


def test_describe_source_names_files_and_data(photo_path: Path):
    assert describe_source(photo_path) == f"'{SAMPLE}'"
    assert describe_source(os.fspath(photo_path)) == f"'{SAMPLE}'"
    assert describe_source(b"\xff\xd8") == "the image data"
    assert describe_source(b"\xff\xd8", name="uploads/cat.png") == "'cat.png'"
    with open(photo_path, "rb") as handle:
        assert describe_source(handle) == f"'{SAMPLE}'"
    assert describe_source(io.BytesIO()) == "the image file object"


@pytest.mark.parametrize(
    ("head", "kind", "description"),
    [
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "image", "a JPEG image"),
        (b"RIFF\x10\0\0\0WEBPVP8 ", "image", "a WebP image"),
        (b"BM6\0\0\0\0\0\0\x006\0\0\0", "image", "a BMP image"),
        (b"BMW service invoice, 2024", "not-image", "a text file"),
        (b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41", "not-image", "an MP4 or QuickTime video"),
        (b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf", "unsupported", "an AVIF image"),
        (b"8BPS\0\x01", "unsupported", "a Photoshop document (PSD)"),
        (b"\xef\xbb\xbf  <svg width='1'/>", "unsupported", "an SVG drawing (a vector format)"),
    ],
)
def test_sniff_format_recognises_files_from_their_first_bytes(head: bytes, kind: str, description: str):
    sniffed = sniff_format(head)
    assert (sniffed.kind, sniffed.description) == (kind, description)


def test_as_image_loads_a_path_and_turns_a_pil_image_into_rgb_the_same_way(tmp_path: Path):
    path = tmp_path / "transparent.png"
    Image.new("RGBA", (4, 3), (0, 0, 0, 0)).save(path)

    loaded, given = as_image(path), as_image(Image.open(path))

    assert loaded.mode == given.mode == "RGB" and loaded.size == given.size == (4, 3)
    assert loaded.getpixel((0, 0)) == given.getpixel((0, 0)) == (255, 255, 255)  # transparency on white, both ways
