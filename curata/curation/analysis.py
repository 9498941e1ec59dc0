"""Decode each image once, small, and measure everything curation needs from that one decode.

JPEGs are decoded with Pillow's draft mode, which scales by 1/2, 1/4 or 1/8 inside the DCT
and so skips most of the decoding work on large photos. From that single reduced decode come
the perceptual hashes (imagehash's pHash and dHash, plus the pHash of the mirror image so
flipped copies are found) and the raw measurements behind every quality issue. Raw
measurements are stored, so changing a threshold re-tags samples without decoding anything.

Without the quality measurements (``quality=False``) the decode only has to be large enough
for the hashes: grey, with its long side at 128 px or more, the cheapest way to find the
duplicates in a large scrape.

This module imports no FiftyOne: it runs in worker processes.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from PIL import Image

from curata.images import orientation_of

# Bump when a measurement changes meaning: stored results of older versions are recomputed.
ANALYSIS_VERSION = 3
ANALYSIS_SIDE = 512  # long side of the copy that sharpness is measured on (when the image is that large)
# Long side of the decode when only hashes are wanted. Measured against imagehash on the flower
# photos: 99% of pHashes within 2 bits at 128 px, but only 94% at 64 px.
HASH_SIDE = 128
PHASH_SIDE = 32
DHASH_SIDE = 8
# Box-reduce to about twice the pHash's 32 px before its Lanczos step (as Pillow's
# ``reducing_gap``): several times cheaper, and the hashes stay within a bit or two of imagehash's.
_REDUCING_GAP = 2
STATS_SIDE = 128  # long side of the copy that brightness, colour, entropy and the polar spectrum come from
# The polar spectrum: rings from the centre to the inscribed circle, sampled at 128 angles; per
# ring the first 16 angular frequencies (its mean dropped). Measured on the shared test photos: a
# 20-degree rotated copy correlates at 0.99 with its original, 667 unrelated photos at most 0.88.
POLAR_RADII = 16
POLAR_ANGLES = 128
POLAR_FREQUENCIES = 16
_POLAR_MIN_SIDE = 8
_TILES = 8
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class ImageStats:
    """Everything curation measures on one image (all cheap to store).

    The quality measurements are None when only the hashes were asked for.
    """

    phash: str
    dhash: str
    phash_mirror: str
    polar: str  # the polar spectrum, base64 float16 (``rotated.py`` matches copies turned by any angle)
    width: int
    height: int
    brightness_p99: float | None = None  # perceived brightness (0-1) of the 99th-percentile pixel: low = dark
    brightness_p5: float | None = None  # ... of the 5th-percentile pixel: high = washed out
    brightness_mean: float | None = None  # mean perceived brightness: low = under-exposed
    entropy: float | None = None  # colour histogram entropy in bits (as cleanvision): low = empty
    colourfulness: float | None = None  # mean chroma (0-1): ~0 = grayscale
    sharpness: float | None = None  # Laplacian variance in the sharpest tiles of the grey copy: low = blurry
    sharpness_global: float | None = None  # Laplacian variance of the whole grey copy
    version: int = ANALYSIS_VERSION

    @property
    def has_quality(self) -> bool:
        return self.sharpness is not None

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}


def analyse(path: str, quality: bool = True) -> ImageStats:
    """Decode ``path`` once (reduced when possible, EXIF orientation applied) and measure it.

    ``quality=False`` measures only the hashes and the size, from a smaller, grey decode.
    """
    mode, side = ("RGB", ANALYSIS_SIDE) if quality else ("L", HASH_SIDE)
    with Image.open(path) as image:
        orientation = orientation_of(image)
        width, height = image.size[::-1] if orientation in (5, 6, 7, 8) else image.size
        if image.format == "JPEG":
            image.draft(mode, _draft_size(image.size, side))
        decoded = image.convert(mode)
    if quality:
        decoded = _reduce_to(decoded, ANALYSIS_SIDE)
    if orientation in _TRANSPOSE:
        decoded = decoded.transpose(_TRANSPOSE[orientation])
    grey = decoded.convert("L") if quality else decoded
    measured = _quality(decoded, grey) if quality else {}
    return ImageStats(**_hashes(grey), polar=_polar_spectrum(grey), width=width, height=height, **measured)


def _hashes(grey: Image.Image) -> dict[str, str]:
    """imagehash's pHash and dHash of ``grey``, and the pHash of its mirror image.

    Both hashes start from one box-reduced copy. The pHash's DCT is two small matrix products
    that keep only the 8x8 low frequencies it uses; mirroring a row reverses it, which flips the
    sign of every odd DCT coefficient along it, so the mirror pHash needs no second transform.
    """
    factors = [max(1, side // (_REDUCING_GAP * PHASH_SIDE)) for side in grey.size]
    source = grey.reduce(tuple(factors)) if max(factors) > 1 else grey
    # The reduced copy's last row and column may stand for part of a block only; the box keeps
    # the Lanczos step to the area of the original image, as Pillow's own ``reducing_gap`` does.
    box = (0.0, 0.0, grey.width / factors[0], grey.height / factors[1])
    thumb = source.resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS, box=box)
    low = _DCT @ np.asarray(thumb, dtype=np.float64) @ _DCT.T
    # A flat image's AC terms are rounding noise here but exact zeros in imagehash, whose hash of
    # every flat image is 8000000000000000; real terms of 8-bit pixels are far larger.
    low[np.abs(low) < 1e-6] = 0.0
    mirror = low * _MIRROR_SIGNS
    steps = np.asarray(source.resize((DHASH_SIDE + 1, DHASH_SIDE), Image.Resampling.LANCZOS, box=box))
    return {
        "phash": _hex(low > np.median(low)),
        "dhash": _hex(steps[:, 1:] > steps[:, :-1]),
        "phash_mirror": _hex(mirror > np.median(mirror)),
    }


# The first 8 rows of the unnormalised DCT-II over 32 samples (scipy's default, as imagehash uses).
_DCT = 2.0 * np.cos(np.pi * np.outer(np.arange(8), 2 * np.arange(PHASH_SIDE) + 1) / (2 * PHASH_SIDE))
_MIRROR_SIGNS = np.array([1.0, -1.0] * 4)


def _polar_spectrum(grey: Image.Image) -> str:
    """The angular spectrum of each ring of the inscribed circle, normalised to unit energy.

    Turning an image about its centre shifts every ring along the angle, which changes the
    phases of its spectrum but not their differences between rings, so a copy turned by any
    angle still correlates with the original at the best shift (see ``rotated.py``).
    """
    small = np.asarray(grey, dtype=np.float32)
    if min(small.shape) < _POLAR_MIN_SIDE:  # too few pixels to have rings
        return _encode_spectrum(np.zeros((POLAR_FREQUENCIES, POLAR_RADII), dtype=np.complex64))
    scale = STATS_SIDE / max(small.shape)
    if scale < 1:  # an area average: integer box steps would alias the outer rings
        size = (max(1, round(small.shape[1] * scale)), max(1, round(small.shape[0] * scale)))
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    height, width = small.shape
    centre, radius = ((width - 1) / 2, (height - 1) / 2), 0.95 * min(width, height) / 2
    rings = cv2.warpPolar(
        small, (POLAR_RADII, POLAR_ANGLES), centre, radius, cv2.WARP_POLAR_LINEAR | cv2.INTER_AREA
    )
    spectrum = np.fft.rfft(rings, axis=0)[1 : POLAR_FREQUENCIES + 1]  # angular frequency x ring
    energy = np.linalg.norm(spectrum)
    return _encode_spectrum(spectrum / energy if energy > 1e-6 else np.zeros_like(spectrum))


def _encode_spectrum(spectrum: np.ndarray) -> str:
    return base64.b64encode(spectrum.astype(np.complex64).view(np.float32).astype(np.float16)).decode("ascii")


def _hex(bits: np.ndarray) -> str:
    """The hex string imagehash prints for a boolean hash array (row-major, first bit highest)."""
    return np.packbits(bits.ravel()).tobytes().hex()


def _quality(rgb: Image.Image, grey: Image.Image) -> dict[str, float]:
    """The raw measurements behind every quality issue (``quality.py`` turns them into scores)."""
    small_rgb = _reduce_to(rgb, STATS_SIDE)
    red, green, blue = np.moveaxis(np.asarray(small_rgb, dtype=np.float32), -1, 0)
    brightness = np.sqrt(red**2 * 0.241 + green**2 * 0.691 + blue**2 * 0.068)
    p5, p99 = np.percentile(brightness, [5, 99]) / 255.0
    chroma = (np.abs(red - green) + np.abs(green - blue)).mean() / 510.0
    sharp_tiles, sharp_global = _sharpness(np.asarray(grey))
    return {
        "brightness_p99": round(float(p99), 5),
        "brightness_p5": round(float(p5), 5),
        "brightness_mean": round(float(brightness.mean()) / 255.0, 5),
        "entropy": round(float(small_rgb.entropy()), 5),
        "colourfulness": round(float(chroma), 5),
        "sharpness": round(sharp_tiles, 3),
        "sharpness_global": round(sharp_global, 3),
    }


def _draft_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size to ask the JPEG decoder for so that the *long* side comes out at least ``side``.

    Pillow picks the largest DCT scale that keeps both sides at or above the request, so a
    square request would decode a 2048x1536 photo at 1024x768 instead of 512x384.
    """
    long_side = max(size)
    return max(1, size[0] * side // long_side), max(1, size[1] * side // long_side)


def _reduce_to(image: Image.Image, side: int) -> Image.Image:
    """Shrink by an integer factor (a fast box filter) until the long side is at most ``side``."""
    factor = math.ceil(max(image.size) / side)
    return image.reduce(factor) if factor > 1 else image


def _sharpness(grey: np.ndarray) -> tuple[float, float]:
    """Laplacian variance overall and in the sharpest tenth of an 8x8 grid of tiles.

    A sharp subject on a plain background (a product shot, a flower against the sky) has a low
    overall variance but sharp tiles; a defocused or shaken photo has no sharp tile at all.
    """
    if min(grey.shape) < 3:
        return 0.0, 0.0
    # The 4-neighbour Laplacian of the interior pixels (borders have no neighbours to compare).
    lap = cv2.Laplacian(grey.astype(np.float32), -1, ksize=1)[1:-1, 1:-1]
    overall = float(cv2.meanStdDev(lap)[1][0, 0] ** 2)
    tile_h, tile_w = lap.shape[0] // _TILES, lap.shape[1] // _TILES
    if tile_h == 0 or tile_w == 0:
        return overall, overall
    # Per-tile variance as E[x^2] - E[x]^2, the means from an exact box average per tile.
    lap = np.ascontiguousarray(lap[: tile_h * _TILES, : tile_w * _TILES])
    means = cv2.resize(lap, (_TILES, _TILES), interpolation=cv2.INTER_AREA).astype(np.float64)
    squares = cv2.resize(lap * lap, (_TILES, _TILES), interpolation=cv2.INTER_AREA).astype(np.float64)
    tiles = np.maximum(squares - means * means, 0.0)
    top = np.sort(tiles, axis=None)[-max(1, tiles.size // 10) :]
    return float(top.mean()), overall
