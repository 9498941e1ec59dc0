"""Copies turned by any angle, which perceptual hashes cannot see: polar-spectrum correlation.

Each image keeps the angular spectrum of rings around its centre (``analysis._polar_spectrum``).
Turning an image shifts every ring by the same angle, so the copy's rings correlate with the
original's at one shift. Candidates come from the spectrum magnitudes, which do not change with
the angle at all (nearest neighbours by cosine); each candidate pair is then confirmed by the
correlation at its best shift, which an unrelated photo with a similar layout does not reach.
Mirror images correlate with the complex conjugate, so turned *and* flipped copies are found too.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np

from curata.curation.analysis import POLAR_ANGLES, POLAR_FREQUENCIES, POLAR_RADII

NEIGHBOURS = 8  # candidates per image, by spectrum magnitude
_BLOCK = 1024  # rows of the similarity matrix held at once
_PAIR_BLOCK = 8192  # candidate pairs correlated at once


def rotated_pairs(
    signatures: Sequence[str | None], threshold: float, mirrored: bool = True, neighbours: int = NEIGHBOURS
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) whose best polar correlation reaches ``threshold`` (0-1)."""
    valid = np.array([k for k, s in enumerate(signatures) if s], dtype=np.int64)
    if len(valid) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    spectra = np.stack([_decode(signatures[k]) for k in valid])
    i, j = _candidates(spectra, min(neighbours, len(valid) - 1))
    score = np.concatenate(
        [
            _best_correlation(spectra[i[s : s + _PAIR_BLOCK]], spectra[j[s : s + _PAIR_BLOCK]], mirrored)
            for s in range(0, len(i), _PAIR_BLOCK)
        ]
    )
    keep = score >= threshold
    return valid[i[keep]], valid[j[keep]]


def _decode(signature: str) -> np.ndarray:
    values = np.frombuffer(base64.b64decode(signature), dtype=np.float16).astype(np.float32)
    return values.view(np.complex64).reshape(POLAR_FREQUENCIES, POLAR_RADII)


def _candidates(spectra: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Each image's nearest neighbours by the cosine of the angle-free spectrum magnitudes."""
    magnitudes = np.abs(spectra).reshape(len(spectra), -1)
    magnitudes /= np.maximum(np.linalg.norm(magnitudes, axis=1, keepdims=True), 1e-9)
    pairs = []
    for start in range(0, len(spectra), _BLOCK):
        similarity = magnitudes[start : start + _BLOCK] @ magnitudes.T
        rows = np.arange(similarity.shape[0])
        similarity[rows, start + rows] = -np.inf
        nearest = np.argpartition(-similarity, neighbours - 1, axis=1)[:, :neighbours]
        pairs.append(np.stack([np.repeat(start + rows, neighbours), nearest.ravel()], axis=1))
    both = np.sort(np.concatenate(pairs), axis=1)
    unique = np.unique(both, axis=0)
    return unique[:, 0], unique[:, 1]


def _best_correlation(first: np.ndarray, second: np.ndarray, mirrored: bool) -> np.ndarray:
    """The largest circular correlation over all angles (1 for a copy, spectra of unit energy)."""
    best = _correlation(first, second)
    if mirrored:
        best = np.maximum(best, _correlation(first, second.conj()))
    return best


def _correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    cross = np.zeros((len(first), POLAR_ANGLES // 2 + 1), dtype=np.complex64)
    cross[:, 1 : POLAR_FREQUENCIES + 1] = np.sum(first.conj() * second, axis=2)
    # irfft sums each frequency with its conjugate and divides by the length
    return np.fft.irfft(cross, n=POLAR_ANGLES, axis=1).max(axis=1) * POLAR_ANGLES / 2
