"""The fine-tune: the backbone's last blocks and a new head, trained on the curated images.

The head starts from the linear probe (so epoch 0 *is* the probe), the last ``blocks`` blocks of
the backbone are unfrozen, and training uses standard augmentation (random resized crops,
flips, colour jitter), label smoothing, AdamW with a cosine schedule, mixed precision and the
GPU when there is one. Validation accuracy after each epoch decides: the best epoch's weights
are kept (epoch 0, the starting head, included) and training stops after ``patience`` epochs
without improvement.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from curata.progress import progress_bar


@dataclass(frozen=True)
class FineTuneSettings:
    epochs: int = 8
    blocks: int = 3  # backbone blocks to unfreeze, counted from the top
    batch_size: int = 32
    head_lr: float = 1e-3
    backbone_lr: float = 1e-4
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1
    patience: int = 3
    keep_best: bool = True  # False: keep the last epoch's weights (for inspecting a run)


@dataclass
class FineTuneResult:
    weight: np.ndarray
    bias: np.ndarray
    backbone_state: dict  # parameter and buffer name -> tensor, for the unfrozen parts only
    best_epoch: int
    history: list[dict] = field(default_factory=list)  # per epoch: train loss, val top-1
    device: str = "cpu"
    seconds: float = 0.0


class _Images:
    def __init__(self, paths: Sequence[str], targets: Sequence[int], transform):
        self.paths, self.targets, self.transform = list(paths), list(targets), transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        from curata.images import open_image

        return self.transform(open_image(self.paths[index])), self.targets[index]


def augmentation(preprocess):
    """Training transforms that end like the backbone's own preprocessing (size, normalisation)."""
    from torchvision import transforms

    steps = getattr(preprocess, "transforms", [])
    normalise = next((t for t in steps if isinstance(t, transforms.Normalize)), None)
    crop = next((t for t in steps if isinstance(t, transforms.CenterCrop)), None)
    size = crop.size[0] if crop is not None else 224
    return transforms.Compose([
        transforms.RandomResizedCrop(size, scale=(0.6, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.ColorJitter(0.2, 0.2, 0.2),
        transforms.ToTensor(),
        *([normalise] if normalise is not None else []),
    ])  # fmt: skip


def fine_tune(
    backend,
    train: tuple[Sequence[str], Sequence[int]],
    val: tuple[Sequence[str], Sequence[int]],
    head: tuple[np.ndarray, np.ndarray],
    settings: FineTuneSettings = FineTuneSettings(),
    seed: int = 0,
    progress: bool = True,
) -> FineTuneResult:
    import torch
    from torch.utils.data import DataLoader

    started = time.perf_counter()
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    backend.to(device)
    model = backend.model
    parts = backend.trainable_parts(settings.blocks)
    model.requires_grad_(False)
    trainable = []
    for name, parameter in model.named_parameters():
        if any(name == p or name.startswith(p + ".") for p in parts):
            parameter.requires_grad_(True)
            trainable.append(parameter)
    linear = torch.nn.Linear(head[0].shape[1], head[0].shape[0]).to(device)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(head[0]))
        linear.bias.copy_(torch.from_numpy(np.maximum(head[1], -1e4)))  # absent classes: very unlikely

    def set_mode(training: bool) -> None:
        model.eval()  # frozen parts keep their batch-norm statistics
        if training:
            for name, module in model.named_modules():
                if name in parts:
                    module.train()

    def logits(batch):
        features = torch.nn.functional.normalize(backend.features(batch).float(), dim=1)
        return linear(features)

    workers = 0 if device == "cpu" else 2
    train_loader = DataLoader(
        _Images(*train, augmentation(backend.preprocess)), batch_size=settings.batch_size, shuffle=True,
        num_workers=workers, generator=torch.Generator().manual_seed(seed),
    )  # fmt: skip
    val_loader = DataLoader(
        _Images(*val, backend.preprocess), batch_size=settings.batch_size, num_workers=workers
    )
    optimiser = torch.optim.AdamW(
        [
            {"params": trainable, "lr": settings.backbone_lr},
            {"params": linear.parameters(), "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    steps = max(1, settings.epochs * len(train_loader))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=steps)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    use_amp = device == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    def evaluate() -> float:
        set_mode(False)
        correct = total = 0
        with torch.inference_mode(), torch.autocast(device, enabled=use_amp):
            for images, targets in val_loader:
                predicted = logits(images.to(device)).argmax(dim=1).cpu()
                correct += int((predicted == targets).sum())
                total += len(targets)
        return correct / total if total else 0.0

    def snapshot() -> dict:
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items() if _in(k, parts)}
        return {"backbone": state, "head": copy.deepcopy(linear.state_dict())}

    best_score, best_epoch, best = evaluate(), 0, snapshot()
    history = [{"epoch": 0, "train_loss": None, "val_top1": round(best_score, 4)}]
    waited = 0
    with progress_bar(settings.epochs * len(train_loader), "fine-tune", progress) as advance:
        for epoch in range(1, settings.epochs + 1):
            set_mode(True)
            losses = []
            for images, targets in train_loader:
                optimiser.zero_grad(set_to_none=True)
                with torch.autocast(device, enabled=use_amp):
                    loss = loss_fn(logits(images.to(device)), targets.to(device))
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
                schedule.step()
                losses.append(float(loss.detach()))
                advance(1)
            score = evaluate()
            history.append(
                {"epoch": epoch, "train_loss": round(float(np.mean(losses)), 4), "val_top1": round(score, 4)}
            )
            if score > best_score or not settings.keep_best:
                best_score, best_epoch, best, waited = score, epoch, snapshot(), 0
            else:
                waited += 1
                if waited >= settings.patience:
                    break
    model.load_state_dict(best["backbone"], strict=False)
    linear.load_state_dict(best["head"])
    set_mode(False)
    model.requires_grad_(False)
    return FineTuneResult(
        weight=linear.weight.detach().cpu().numpy(),
        bias=linear.bias.detach().cpu().numpy(),
        backbone_state=best["backbone"],
        best_epoch=best_epoch,
        history=history,
        device=device,
        seconds=time.perf_counter() - started,
    )


def _in(key: str, parts: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in parts)
