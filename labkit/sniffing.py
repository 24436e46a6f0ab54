"""Recognise a file from its first few kilobytes, without decoding it: an image labkit reads, one it does not
(SVG, HEIC, PSD...), or something else entirely (a PDF, a web page, a text file), named so a message can say which.

Example:
    >>> sniff_format(b"%PDF-1.7 ...").description
    'a PDF document'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

SniffKind = Literal["image", "unsupported", "not-image", "unknown"]
SNIFF_BYTES = 4096  # enough to find "<svg" after an XML prolog and an editor's comment


@dataclass(frozen=True)
class Sniffed:
    """What the first bytes of a file say it is, and how to name it in a message ("a PDF document")."""

    kind: SniffKind
    description: str


def sniff_format(head: bytes) -> Sniffed:
    """Recognise a file from its first few kilobytes, without decoding it.

    Example:
        >>> sniff_format(b"%PDF-1.7 ...")
        Sniffed(kind='not-image', description='a PDF document')
        >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n...").description
        'a PNG image'
    """
    for signature, kind, description in _SIGNATURES:
        if head.startswith(signature):
            return Sniffed(kind, description)
    if head.startswith(b"RIFF") and len(head) >= 12:
        riff_type = head[8:12]
        if riff_type == b"WEBP":
            return Sniffed("image", "a WebP image")
        return Sniffed(
            "not-image",
            {b"WAVE": "a WAV audio file", b"AVI ": "an AVI video"}.get(riff_type, "a RIFF media file (audio or video)"),
        )
    if head[4:8] == b"ftyp":
        return _sniff_iso_media(head)
    if head.startswith(b"BM") and head[6:10] == b"\0\0\0\0":  # "BM" alone would match text files too
        return Sniffed("image", "a BMP image")
    if re.match(rb"P[1-7]\s", head):
        return Sniffed("unsupported", "a Netpbm image (PBM/PGM/PPM)")
    text = _as_text(head)
    if text is not None:
        return _sniff_text(text)
    return Sniffed("unknown", "data in a format labkit does not recognise")


_SIGNATURES: tuple[tuple[bytes, SniffKind, str], ...] = (
    (b"\xff\xd8\xff", "image", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "image", "a PNG image"),
    (b"GIF87a", "image", "a GIF image"),
    (b"GIF89a", "image", "a GIF image"),
    (b"II*\0", "image", "a TIFF image"),
    (b"MM\0*", "image", "a TIFF image"),
    (b"II+\0", "image", "a TIFF image"),
    (b"MM\0+", "image", "a TIFF image"),
    (b"\xff\x0a", "unsupported", "a JPEG XL image"),
    (b"\0\0\0\x0cJXL \r\n\x87\n", "unsupported", "a JPEG XL image"),
    (b"\0\0\0\x0cjP  \r\n\x87\n", "unsupported", "a JPEG 2000 image"),
    (b"\xff\x4f\xff\x51", "unsupported", "a JPEG 2000 image"),
    (b"8BPS", "unsupported", "a Photoshop document (PSD)"),
    (b"\0\0\1\0", "unsupported", "a Windows icon (ICO)"),
    (b"%PDF", "not-image", "a PDF document"),
    (b"%!PS", "not-image", "a PostScript document"),
    (b"PK\x03\x04", "not-image", "a ZIP archive (Word, Excel and PowerPoint files are ZIP archives too)"),
    (b"PK\x05\x06", "not-image", "an empty ZIP archive"),
    (b"\x1f\x8b", "not-image", "a gzip-compressed file"),
    (b"Rar!\x1a\x07", "not-image", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "not-image", "a 7-Zip archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "not-image", "an old Microsoft Office document (.doc, .xls or .ppt)"),
    (b"ID3", "not-image", "an MP3 audio file"),
    (b"OggS", "not-image", "an Ogg audio or video file"),
    (b"fLaC", "not-image", "a FLAC audio file"),
    (b"\x1a\x45\xdf\xa3", "not-image", "a WebM or Matroska video"),
    (b"MZ", "not-image", "a Windows program"),
    (b"\x7fELF", "not-image", "a Linux program"),
    (b"SQLite format 3\0", "not-image", "an SQLite database"),
)

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1"}


def _sniff_iso_media(head: bytes) -> Sniffed:
    """Tell apart the ISO base-media files (a box named "ftyp" at byte 4): HEIC, AVIF, MP4, QuickTime, CR3."""
    box_size = int.from_bytes(head[:4], "big")
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
    if head[8:12] in (b"avif", b"avis") or (head[8:12] in _HEIF_BRANDS and b"avif" in brands):
        return Sniffed("unsupported", "an AVIF image")
    if head[8:12] in _HEIF_BRANDS:
        return Sniffed("unsupported", "a HEIC/HEIF image (the format iPhones save photos in)")
    if head[8:12] == b"crx ":
        return Sniffed("unsupported", "a Canon raw photo (CR3)")
    return Sniffed("not-image", "an MP4 or QuickTime video")


def _as_text(head: bytes) -> str | None:
    """Return ``head`` decoded if it reads as text (UTF-8 or UTF-16 with a byte-order mark), else None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    if b"\0" in head:
        return None
    try:
        # The sniffed window may end in the middle of a multi-byte character.
        text = (head if len(head) < SNIFF_BYTES else head[:-4]).decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    printable = sum(character.isprintable() or character in "\t\r\n\f" for character in text)
    return text if printable >= 0.95 * len(text) else None


def _sniff_text(text: str) -> Sniffed:
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith("<svg") or (
        start.startswith(("<?xml", "<!doctype svg", "<!--")) and "<svg" in start and "<html" not in start
    ):
        return Sniffed("unsupported", "an SVG drawing (a vector format)")
    if start.startswith(("<!doctype html", "<html", "<head", "<body", "<meta", "<script")) or "<html" in start:
        return Sniffed(
            "not-image",
            "an HTML web page (saving a link to a picture instead of the picture itself "
            "gives one; open the picture and use 'Save image as')",
        )
    if start.startswith("<?xml"):
        return Sniffed("not-image", "an XML document")
    if start.startswith("data:image/"):
        return Sniffed("not-image", "a data: URL, the image written out as text (decode its base64 part first)")
    if start.startswith(("{", "[")):
        return Sniffed("not-image", "JSON data (a text file)")
    return Sniffed("not-image", "a text file")
