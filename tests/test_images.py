"""Image validation on real files and on hostile ones built here."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from curata.images import RejectedImage, inspect_image, open_image

LIMITS = {"max_pixels": 50_000_000, "max_bytes": 20_000_000}


def jpeg(size=(64, 48), color=(200, 30, 30), exif_orientation: int | None = None) -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", size, color)
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        image.save(buffer, "JPEG", exif=exif)
    else:
        image.save(buffer, "JPEG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(data)


def test_jpeg_is_kept_byte_for_byte():
    data = jpeg()
    info = inspect_image(data, **LIMITS)
    assert (info.format, info.ext, info.width, info.height, info.converted) == ("JPEG", "jpg", 64, 48, False)
    assert info.data == data and info.mime_type == "image/jpeg" and info.num_channels == 3


def test_exif_orientation_swaps_dimensions_and_open_image_applies_it(tmp_path):
    data = jpeg(size=(64, 48), exif_orientation=6)
    info = inspect_image(data, **LIMITS)
    assert info.orientation == 6 and (info.width, info.height) == (48, 64)
    path = tmp_path / "rotated.jpg"
    path.write_bytes(data)
    assert open_image(path).size == (48, 64)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "SVG",
        ),
        (b"  <!DOCTYPE html><html><body>Access denied</body></html>", "HTML"),
        (b"\xef\xbb\xbf<svg width='10' height='10'></svg>", "SVG"),
        (b"just some text, not an image", "not an image"),
        (b"%PDF-1.4\n1 0 obj<<>>endobj", "not an image"),
    ],
)
def test_non_images_are_rejected_with_a_reason(data, reason):
    with pytest.raises(RejectedImage, match=reason):
        inspect_image(data, **LIMITS)


@pytest.mark.parametrize("side", [10_000, 60_000])  # over our limit; over Pillow's own as well
def test_decompression_bomb_is_rejected_before_decoding(side):
    with pytest.raises(RejectedImage, match="decompression bomb"):
        inspect_image(png_claiming(side, side), **LIMITS)


def test_truncated_jpeg_is_rejected():
    data = jpeg(size=(256, 256))
    with pytest.raises(RejectedImage, match="corrupt or truncated"):
        inspect_image(data[: len(data) // 2], **LIMITS)


def test_oversized_file_is_rejected():
    with pytest.raises(RejectedImage, match="over the"):
        inspect_image(jpeg(), max_pixels=LIMITS["max_pixels"], max_bytes=100)


def test_tiff_is_converted_to_png_with_orientation_applied():
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.new("CMYK", (30, 10), (0, 50, 100, 0)).save(buffer, "TIFF", exif=exif)
    info = inspect_image(buffer.getvalue(), **LIMITS)
    assert info.converted and info.ext == "png" and info.format == "TIFF"
    decoded = Image.open(io.BytesIO(info.data))
    assert decoded.format == "PNG" and decoded.size == (10, 30) and decoded.mode == "RGB"


def test_imagededup_formats_and_corrupt_files(shared_data):
    root = shared_data / "imagededup-tests"
    expected = {
        "formats_images/ukbench09380.svg": ("JPEG", False),  # JPEG bytes behind an .svg name
        "formats_images/ukbench09380.bmp": ("JPEG", False),
        "formats_images/ukbench09380.webp": ("WEBP", False),
        "mixed_images/ukbench09268_corrupt.jpg": None,
    }
    for name, outcome in expected.items():
        data = (root / name).read_bytes()
        if outcome is None:
            with pytest.raises(RejectedImage, match="corrupt|not an image"):
                inspect_image(data, **LIMITS)
        else:
            info = inspect_image(data, **LIMITS)
            assert (info.format, info.converted) == outcome, name
    for path in sorted((root / "formats_images").iterdir()):
        info = inspect_image(path.read_bytes(), **LIMITS)  # every real format there decodes
        browser_safe = info.ext in ("jpg", "png", "webp", "gif", "bmp")
        assert browser_safe, path.name
        assert Image.open(io.BytesIO(info.data)).size == (info.width, info.height)


def test_real_camera_photos_open_with_their_recorded_size(shared_data):
    for path in sorted((shared_data / "blur-triplets" / "images").iterdir()):
        info = inspect_image(path.read_bytes(), max_pixels=200_000_000, max_bytes=100_000_000)
        with Image.open(path) as raw:
            raw_size = raw.size
        upright = open_image(path).size
        assert upright == (info.width, info.height)
        assert upright == (raw_size[::-1] if info.orientation in (5, 6, 7, 8) else raw_size)
