"""The model file: one self-contained classifier (the backbone to embed with, the head's weights,
the class names and their descriptions, and the data it was trained on), and prediction with it.

The file is a plain ``torch.save`` dictionary of tensors, strings and numbers, so it loads with
``torch.load(weights_only=True)``: opening a model file never runs code from it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from curata.errors import CurataError
from curata.store import write_atomically

FORMAT = "curata-classifier/1"


@dataclass
class Classifier:
    classes: list[str]
    weight: np.ndarray  # (classes, dim)
    bias: np.ndarray  # (classes,)
    backbone: dict  # the [embeddings] settings and model_id whose vectors the head reads
    kind: str = "linear-probe"
    descriptions: dict[str, str] = field(default_factory=dict)
    trained_on: dict = field(default_factory=dict)  # dataset, fingerprint, samples per split, seed
    metrics: dict = field(default_factory=dict)
    backbone_state: dict = field(default_factory=dict)  # fine-tuned backbone tensors (empty: as published)
    _backend: object = field(default=None, repr=False)

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        return vectors @ self.weight.T + self.bias

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        logits = self.logits(vectors)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def use_backend(self, backend) -> None:
        """Embed with an already loaded backbone (its fine-tuned tensors are applied to it)."""
        if self.backbone_state:
            problems = backend.model.load_state_dict(self.backbone_state, strict=False)
            if problems.unexpected_keys:
                raise CurataError("the model file's backbone does not match [embeddings] in curata.toml")
        self._backend = backend

    def embed(self, paths: Sequence[str | Path], flip: bool = False, batch_size: int = 32) -> np.ndarray:
        """Embed image files with the backbone the head was trained on (loaded once);
        ``flip`` mirrors them first (test-time augmentation)."""
        import torch
        from PIL import Image

        from curata.config import EmbeddingsSection
        from curata.embeddings.backends import load_backend
        from curata.images import open_image

        if self._backend is None:
            settings = {k: v for k, v in self.backbone.items() if k in ("backend", "arch", "pretrained")}
            self.use_backend(load_backend(EmbeddingsSection(**settings)))
        backend = self._backend
        backend.model.eval()
        paths = list(paths)
        vectors = []
        for start in range(0, len(paths), batch_size):
            batch = []
            for path in paths[start : start + batch_size]:
                try:
                    image = open_image(path)
                except (OSError, ValueError) as err:
                    raise CurataError(f"cannot read {path} as an image ({err}); check the file") from None
                batch.append(
                    backend.preprocess(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else image)
                )
            with torch.inference_mode():
                vectors.append(backend.embed_images(torch.stack(batch)).numpy())
        return np.concatenate(vectors) if vectors else np.zeros((0, self.weight.shape[1]), dtype=np.float32)

    def predict(self, paths: Sequence[str | Path], tta: bool = False) -> np.ndarray:
        """Class probabilities; with ``tta`` the average over each image and its mirror image."""
        probabilities = self.probabilities(self.embed(paths))
        if tta:
            probabilities = (probabilities + self.probabilities(self.embed(paths, flip=True))) / 2
        return probabilities

    def save(self, path: Path) -> Path:
        import torch

        path = Path(path)
        state = {
            "format": FORMAT,
            "kind": self.kind,
            "classes": list(self.classes),
            "weight": torch.from_numpy(np.ascontiguousarray(self.weight, dtype=np.float32)),
            "bias": torch.from_numpy(np.ascontiguousarray(self.bias, dtype=np.float32)),
            "backbone": dict(self.backbone),
            "descriptions": dict(self.descriptions),
            "trained_on": self.trained_on,
            "metrics": self.metrics,
            "backbone_state": {k: v.contiguous() for k, v in self.backbone_state.items()},
        }
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return write_atomically(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> Classifier:
        import pickle

        import torch

        path = Path(path)
        if not path.is_file():
            raise CurataError(f"no model file at {path}; train one with `curata train`")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, pickle.UnpicklingError, EOFError, OSError) as err:
            raise CurataError(f"{path} is not a curata model file ({str(err).splitlines()[0]})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CurataError(f"{path} is not a curata model file (format {FORMAT})")
        return cls(
            classes=list(state["classes"]),
            weight=state["weight"].numpy(),
            bias=state["bias"].numpy(),
            backbone=dict(state["backbone"]),
            kind=state["kind"],
            descriptions=dict(state.get("descriptions") or {}),
            trained_on=dict(state.get("trained_on") or {}),
            metrics=dict(state.get("metrics") or {}),
            backbone_state=dict(state.get("backbone_state") or {}),
        )
