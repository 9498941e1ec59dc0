"""Image-quality issues, one small class per issue type, scores and thresholds kept together.

The issue types and score conventions are cleanvision's: every score lies in [0, 1], lower is
worse, and a sample has the issue when its score is below the threshold. The measurements
come from ``analysis.ImageStats`` (one decode per image), and two checks differ from
cleanvision where it is known to be wrong:

- blurry: cleanvision measures edges on a 64 px copy, which ranks sharp above blurred photos
  barely better than chance on real camera blur and flags sharp subjects on plain backgrounds.
  Here sharpness is the Laplacian variance of the sharpest tiles of a 512 px grey copy, per
  unit of contrast, so a dark or misty photo in focus is not called blurry.
- dark: cleanvision looks only at the 99th-percentile pixel, so an under-exposed photo with
  one lamp or window in it passes. Here the mean brightness counts too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from curata.store import ISSUE_TAG_PREFIX


@dataclass(frozen=True)
class QualityIssue:
    """One issue type: how to score a sample from its stats (thresholds live in the config)."""

    name: str
    description: str

    @property
    def tag(self) -> str:
        return f"{ISSUE_TAG_PREFIX}{self.name}"

    @property
    def score_field(self) -> str:
        return f"{self.name}_score"

    def scores(self, stats: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Scores for all samples at once (some issues are relative to the whole dataset)."""
        return np.array([self.score(s) for s in stats], dtype=float)

    def score(self, stats: Mapping[str, float]) -> float:
        raise NotImplementedError


class Blurry(QualityIssue):
    # Laplacian variance per unit of contrast at which the score reaches 1 - 1/e. With the
    # default threshold (0.25) the line falls at 430, between the blurred shots of the shared
    # test photos (cleanvision's blurry example: 395) and the least sharp sharp one (496).
    SCALE = 1500.0

    def score(self, stats):
        contrast = stats["brightness_p99"] - stats["brightness_p5"]
        # A uniform image (black frame, blank page) has no edges to be sharp; that is dark,
        # light or low_information, not blur.
        if contrast < 0.1:
            return 1.0
        # Edges are as strong as the contrast across them: an under-exposed photo in focus has
        # weak but sharp ones (raw Laplacian variance called 2 of 12 low-light photos blurry).
        return 1.0 - math.exp(-stats["sharpness"] / contrast / self.SCALE)


class Dark(QualityIssue):
    def score(self, stats):
        return min(stats["brightness_p99"], 2.0 * stats["brightness_mean"])


class Light(QualityIssue):
    def score(self, stats):
        return 1.0 - stats["brightness_p5"]


class LowInformation(QualityIssue):
    def score(self, stats):
        return min(1.0, 0.1 * stats["entropy"])


class Grayscale(QualityIssue):
    def score(self, stats):
        # A blank or nearly empty image is low_information, not a grayscale photo.
        if stats["entropy"] < 3.0:
            return 1.0
        return min(1.0, stats["colourfulness"] * 20.0)


class OddAspectRatio(QualityIssue):
    def score(self, stats):
        width, height = stats["width"], stats["height"]
        return min(width / height, height / width)


class OddSize(QualityIssue):
    """Far outside the dataset's own size range (cleanvision's IQR rule on sqrt(area))."""

    IQR_FACTOR = 3.0

    def scores(self, stats):
        size = np.array([math.sqrt(s["width"] * s["height"]) for s in stats], dtype=float)
        if len(size) < 4:
            return np.ones(len(size))
        q1, q3 = np.percentile(size, [25, 75])
        low, high = q1 - self.IQR_FACTOR * (q3 - q1), q3 + self.IQR_FACTOR * (q3 - q1)
        middle, gap = (low + high) / 2, high - low
        if gap <= 0:
            return np.where(size == middle, 1.0, 0.0)
        return 1.0 - np.clip(np.abs(size - middle) / gap, 0.0, 1.0)


ISSUES: tuple[QualityIssue, ...] = (
    Blurry("blurry", "out of focus or shaken (no sharp region)"),
    Dark("dark", "under-exposed"),
    Light("light", "washed out, almost all white"),
    LowInformation("low_information", "almost empty: few distinct colours"),
    Grayscale("grayscale", "no colour"),
    OddAspectRatio("odd_aspect_ratio", "very wide or very tall"),
    OddSize("odd_size", "far smaller or larger than the rest of the dataset"),
)
ISSUES_BY_NAME = {issue.name: issue for issue in ISSUES}
