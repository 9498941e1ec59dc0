"""Make torchvision importable on a CPU-only torch whose torchvision wheel was built for CUDA.

The registry's torchvision wheel links its ``_C`` extension against CUDA libraries. On a
CPU-only torch that extension fails to load, and ``import torchvision`` then dies with
``operator torchvision::nms does not exist`` (pytorch/vision#9085), taking open_clip and timm
with it. Declaring the ``nms``/``qnms`` operator schemas before torchvision registers their
fake kernels is enough to import it and use its models and transforms (the compiled box ops,
such as ``torchvision.ops.nms``, stay unavailable). Where the extension loads, nothing is
changed.

Import this module (``install()`` runs on import) before anything that imports torchvision.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

_library = None  # keeps the operator definitions alive for the life of the process


def torchvision_extension_loads() -> bool:
    """True if torchvision's compiled ``_C`` extension loads (it then registers its own ops)."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # no torchvision: nothing to patch
    import torch

    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).glob("_C*.so")) + sorted(Path(folder).glob("_C*.pyd")):
            try:
                torch.ops.load_library(str(candidate))
                return True
            except (OSError, RuntimeError):
                return False
    return False


def install(extension_loads: Callable[[], bool] = torchvision_extension_loads) -> bool:
    """Declare torchvision's detection ops when its extension cannot; return True if it did."""
    global _library
    if _library is not None or "torchvision" in sys.modules:
        return _library is not None
    if extension_loads():
        return False
    import torch

    library = torch.library.Library("torchvision", "DEF")  # noqa: TOR901 - kept alive globally
    library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    library.define(
        "qnms(Tensor dets, Tensor scores, float iou_threshold, float scale, int zero_point) -> Tensor"
    )
    _library = library
    return True


install()
