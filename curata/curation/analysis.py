"""Decode each image once, small, and measure everything curation needs from that one decode.

JPEGs are decoded with Pillow's draft mode, which scales by 1/2, 1/4 or 1/8 inside the DCT
and so skips most of the decoding work on large photos. From that single reduced decode come
the perceptual hashes (imagehash's own pHash and dHash, plus the pHash of the mirror image so
flipped copies are found) and the raw measurements behind every quality issue. Raw
measurements are stored, so changing a threshold re-tags samples without decoding anything.

This module imports no FiftyOne: it runs in worker processes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import imagehash
import numpy as np
from PIL import Image

# Bump when a measurement changes meaning: stored results of older versions are recomputed.
ANALYSIS_VERSION = 2
ANALYSIS_SIDE = 512  # long side of the copy that sharpness is measured on (when the image is that large)
PHASH_SIDE = 32
DHASH_SIDE = 8
_PHASH_GAP = 2.0  # measured on the flower photos: every pHash within 2 bits of imagehash's
_DHASH_GAP = 8.0  # a 9x8 dHash is touchier: 98.5% within 2 bits of imagehash's at this gap
STATS_SIDE = 128  # long side of the copy that brightness, colour and entropy are measured on
_TILES = 8
_EXIF_ORIENTATION = 0x0112
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
    """Everything curation measures on one image (all cheap to store)."""

    phash: str
    dhash: str
    phash_mirror: str
    width: int
    height: int
    brightness_p99: float  # perceived brightness (0-1) of the 99th-percentile pixel: low = dark
    brightness_p5: float  # ... of the 5th-percentile pixel: high = washed out
    brightness_mean: float  # mean perceived brightness: low = under-exposed even with a few bright spots
    entropy: float  # entropy of the colour histogram in bits (as cleanvision): low = little information
    colourfulness: float  # mean chroma (0-1): ~0 = grayscale
    sharpness: float  # Laplacian variance in the sharpest tiles of the grey copy: low = blurry
    sharpness_global: float  # Laplacian variance of the whole grey copy
    version: int = ANALYSIS_VERSION

    def as_dict(self) -> dict:
        return asdict(self)


def analyse(path: str) -> ImageStats:
    """Decode ``path`` once (reduced when possible, EXIF orientation applied) and measure it."""
    with Image.open(path) as image:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        width, height = image.size[::-1] if orientation in (5, 6, 7, 8) else image.size
        if image.format == "JPEG":
            image.draft("RGB", (ANALYSIS_SIDE, ANALYSIS_SIDE))
        rgb = _reduce_to(image.convert("RGB"), ANALYSIS_SIDE)
    if orientation in _TRANSPOSE:
        rgb = rgb.transpose(_TRANSPOSE[orientation])
    grey = rgb.convert("L")
    small_rgb = _reduce_to(rgb, STATS_SIDE)
    # The inputs of imagehash's pHash (32x32) and dHash (9x8), from its own Lanczos step after a
    # box pre-reduction (``reducing_gap``) that makes them several times cheaper; the hashes stay
    # within a bit or two of imagehash's own. The thumbnail is made once: mirroring commutes with it.
    thumb = grey.resize((PHASH_SIDE, PHASH_SIDE), Image.Resampling.LANCZOS, reducing_gap=_PHASH_GAP)
    gradient = grey.resize((DHASH_SIDE + 1, DHASH_SIDE), Image.Resampling.LANCZOS, reducing_gap=_DHASH_GAP)

    pixels = np.asarray(small_rgb, dtype=np.float32)
    brightness = np.sqrt(
        pixels[..., 0] ** 2 * 0.241 + pixels[..., 1] ** 2 * 0.691 + pixels[..., 2] ** 2 * 0.068
    )
    p5, p99 = np.percentile(brightness, [5, 99]) / 255.0
    chroma = (
        np.abs(pixels[..., 0] - pixels[..., 1]) + np.abs(pixels[..., 1] - pixels[..., 2])
    ).mean() / 510.0
    sharp_tiles, sharp_global = _sharpness(np.asarray(grey, dtype=np.float32))
    return ImageStats(
        phash=str(imagehash.phash(thumb)),
        dhash=str(imagehash.dhash(gradient)),
        phash_mirror=str(imagehash.phash(thumb.transpose(Image.Transpose.FLIP_LEFT_RIGHT))),
        width=width,
        height=height,
        brightness_p99=round(float(p99), 5),
        brightness_p5=round(float(p5), 5),
        brightness_mean=round(float(brightness.mean()) / 255.0, 5),
        entropy=round(float(small_rgb.entropy()), 5),
        colourfulness=round(float(chroma), 5),
        sharpness=round(sharp_tiles, 3),
        sharpness_global=round(sharp_global, 3),
    )


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
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    tile_h, tile_w = lap.shape[0] // _TILES, lap.shape[1] // _TILES
    if tile_h == 0 or tile_w == 0:
        variance = float(lap.var())
        return variance, variance
    tiles = lap[: tile_h * _TILES, : tile_w * _TILES].reshape(_TILES, tile_h, _TILES, tile_w).var(axis=(1, 3))
    top = np.sort(tiles, axis=None)[-max(1, tiles.size // 10) :]
    return float(top.mean()), float(lap.var())
