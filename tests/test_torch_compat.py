"""torchvision, open_clip and timm import and run on the CPU-only torch."""

from __future__ import annotations

import subprocess
import sys

import curata.torch_compat  # noqa: F401  (must precede torchvision)


def test_open_clip_builds_and_runs_a_tiny_model(tiny_open_clip):
    import open_clip
    import torch

    arch, weights = tiny_open_clip
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=str(weights))
    model.eval()
    tokens = open_clip.get_tokenizer(arch)(["a photo of a daisy", "a photo of a tulip"])
    with torch.inference_mode():
        images = model.encode_image(torch.rand(3, 3, 64, 64))
        texts = model.encode_text(tokens)
    assert images.shape == (3, 32) and texts.shape == (2, 32)
    assert torch.isfinite(images).all() and torch.isfinite(texts).all()


def test_torchvision_and_timm_models_run():
    import timm
    import torch
    import torchvision

    with torch.inference_mode():
        out = torchvision.models.mobilenet_v3_small(weights=None, num_classes=5).eval()(
            torch.rand(1, 3, 64, 64)
        )
        feats = timm.create_model("resnet18", pretrained=False, num_classes=0).eval()(
            torch.rand(1, 3, 64, 64)
        )
    assert out.shape == (1, 5) and feats.shape == (1, 512)


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_shim_does_nothing_where_the_extension_loads():
    result = run_python(
        "import curata.torch_compat as tc, sys\n"
        "tc._library = None; sys.modules.pop('torchvision', None)\n"
        "print(tc.install(extension_loads=lambda: True), tc._library)\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "None"]


def test_without_the_shim_torchvision_fails_here_and_with_it_imports():
    """Documents why the shim exists: the registry's torchvision wheel needs CUDA to load ``_C``."""
    import curata.torch_compat as tc

    bare = run_python("import torchvision")
    if tc.torchvision_extension_loads():
        assert bare.returncode == 0, bare.stderr
    else:
        assert "torchvision::nms does not exist" in bare.stderr
        patched = run_python("import curata.torch_compat, torchvision, open_clip, timm; print('ok')")
        assert patched.returncode == 0 and patched.stdout.strip() == "ok", patched.stderr
