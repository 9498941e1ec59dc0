"""Decide whether some bytes are an image curata will keep, and read images the same way everywhere.

Import and the scrapers both pass every file through ``inspect_image`` before it reaches the
store: a file is accepted only after a full decode, so corrupt, truncated, hostile
(decompression bombs, SVG or HTML behind an image extension) and unsupported files are
rejected with a reason instead of crashing a later stage. Formats a browser cannot show
(TIFF, PPM, ...) are converted to lossless PNG so the FiftyOne App can display them.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

# Formats kept byte-for-byte (browsers display them), with the extension they are stored under.
WEB_FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}
# Raster formats accepted but stored as PNG.
CONVERTED_FORMATS = ("TIFF", "PPM")
# Decoders tried on incoming bytes (MPO, a multi-picture JPEG, comes out of the JPEG decoder).
ACCEPTED_FORMATS = tuple(f for f in WEB_FORMATS if f != "MPO") + CONVERTED_FORMATS
MIME_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "gif": "image/gif",
    "bmp": "image/bmp",
}
_EXIF_ORIENTATION = 0x0112


class RejectedImage(Exception):
    """Raised by ``inspect_image``; ``str(err)`` is the reason shown in summaries."""


@dataclass(frozen=True)
class ImageInfo:
    """What curata stores about an accepted image."""

    data: bytes  # bytes to store: the original, or a PNG for formats browsers cannot show
    ext: str  # extension of ``data``
    format: str  # format of the original bytes, as PIL names it
    width: int  # after EXIF orientation
    height: int
    mode: str
    orientation: int  # EXIF orientation of the original (1 = upright)
    converted: bool
    pixel_sha256: str  # digest of the decoded pixels: equal for re-saves with other metadata or encoding

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.ext]

    @property
    def num_channels(self) -> int:
        return Image.getmodebands(self.mode)


def inspect_image(data: bytes, *, max_pixels: int, max_bytes: int) -> ImageInfo:
    """Fully decode ``data`` and return what to store, or raise ``RejectedImage`` saying why."""
    if not data:
        raise RejectedImage("empty file")
    if len(data) > max_bytes:
        raise RejectedImage(f"file is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit")
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<"):
        kind = "SVG" if b"<svg" in data[:4096].lower() else "HTML/XML"
        raise RejectedImage(f"{kind} markup, not a raster image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise RejectedImage(
                    f"{width}x{height} pixels is over the {max_pixels:,} pixel limit "
                    "(possible decompression bomb)"
                )
            image.load()
    except RejectedImage:
        raise
    except Image.UnidentifiedImageError:
        raise RejectedImage("not an image in a supported format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise RejectedImage(f"possible decompression bomb: {err}") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as err:
        raise RejectedImage(f"corrupt or truncated image: {err}") from None
    if width == 0 or height == 0:
        raise RejectedImage("image has no pixels")

    pixels = pixel_digest(image)
    orientation = orientation_of(image)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if image.format in WEB_FORMATS:
        return ImageInfo(
            data,
            WEB_FORMATS[image.format],
            image.format,
            width,
            height,
            image.mode,
            orientation,
            converted=False,
            pixel_sha256=pixels,
        )
    upright = ImageOps.exif_transpose(image)
    if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
        upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
    buffer = io.BytesIO()
    upright.save(buffer, format="PNG")
    return ImageInfo(
        buffer.getvalue(),
        "png",
        image.format,
        upright.width,
        upright.height,
        upright.mode,
        orientation,
        converted=True,
        pixel_sha256=pixels,
    )


def pixel_digest(image: Image.Image) -> str:
    """sha256 of the decoded pixels as RGB (RGBA when there is real transparency) plus the size.

    The same picture saved as JPEG with other EXIF, or as lossless WebP or PNG, gets the same
    digest; any change to a pixel gives another.
    """
    if "A" in image.getbands() or image.mode == "P" and "transparency" in image.info:
        rgba = image.convert("RGBA")
        normalised = rgba if rgba.getextrema()[3][0] < 255 else rgba.convert("RGB")
    else:
        normalised = image.convert("RGB")
    digest = hashlib.sha256(f"{normalised.mode}{normalised.size}".encode())
    digest.update(normalised.tobytes())
    return digest.hexdigest()


def pixel_digest_of_file(path: str | Path) -> str:
    with Image.open(path) as image:
        image.load()
        return pixel_digest(image)


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of an open image; 1 when it has none or it is malformed."""
    try:
        value = int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # malformed EXIF must not reject an otherwise good image
        return 1
    return value if 1 <= value <= 8 else 1


def open_image(path: str | Path, mode: str = "RGB", at_least: tuple[int, int] | None = None) -> Image.Image:
    """Open a stored image upright (EXIF orientation applied) in ``mode``.

    Stored JPEGs keep their original bytes and EXIF; every stage decodes through here so they
    all see the same upright pixels the App shows. ``at_least`` lets a JPEG decode reduced
    inside the DCT to no less than that size: a thumbnail of a large photo costs a fraction.
    """
    with Image.open(path) as image:
        if at_least:
            image.draft(mode, at_least)
        upright = ImageOps.exif_transpose(image)
        return upright.convert(mode) if mode else upright.copy()
