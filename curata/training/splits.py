"""Train/val/test splits: assigned once, stratified by class, reproducible, leak-free.

The unit of assignment is a duplicate group (``dup_group`` from curation) or a single sample, so
near copies never straddle splits. Units are ordered by content (sha256) and shuffled with the
seed, so the same samples and seed give the same splits whatever order the database returns.
Samples that already have a split keep it; new samples are placed where their class is furthest
below its target share, and a new member of a group joins the group's split. Excluded samples
get no split.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from curata.store import EXCLUDED_TAG

if TYPE_CHECKING:
    import fiftyone as fo

SPLITS = ("train", "val", "test")
SPLIT_FIELD = "split"
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
DEFAULT_SEED = 51


@dataclass
class SplitReport:
    assigned: int = 0  # samples given a split this time
    kept: int = 0  # samples that already had one
    counts: dict[str, Counter] = field(default_factory=dict)  # split -> class -> samples
    straddling_groups: list[str] = field(default_factory=list)  # groups whose members sit in two splits


def assign_splits(
    dataset: fo.Dataset, seed: int = DEFAULT_SEED, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
) -> SplitReport:
    """Give every included, labelled sample without a split one; return the counts."""
    import fiftyone as fo

    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, not {fractions}")
    if not dataset.has_field(SPLIT_FIELD):
        dataset.add_sample_field(SPLIT_FIELD, fo.StringField)
    fields = ["id", "sha256", "ground_truth.label", SPLIT_FIELD, "tags"]
    has_groups = dataset.has_field("dup_group")
    if has_groups:
        fields.append("dup_group")
    rows = [dict(zip(fields, values, strict=True)) for values in zip(*dataset.values(fields), strict=True)]
    rows = [r for r in rows if r["ground_truth.label"] and EXCLUDED_TAG not in (r["tags"] or ())]

    units: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        units[(row.get("dup_group") if has_groups else None) or row["sha256"]].append(row)

    report = SplitReport()
    current: dict[str, Counter] = defaultdict(Counter)  # class -> split -> samples
    totals: Counter = Counter()
    pending: dict[str, list[list[dict]]] = defaultdict(list)  # class -> units without a split
    updates: dict[str, str] = {}
    for key, members in units.items():
        label = Counter(m["ground_truth.label"] for m in members).most_common(1)[0][0]
        totals[label] += len(members)
        existing = Counter(m[SPLIT_FIELD] for m in members if m[SPLIT_FIELD])
        if len(existing) > 1:
            report.straddling_groups.append(key)
        if existing:
            split = existing.most_common(1)[0][0]
            for member in members:
                if member[SPLIT_FIELD]:
                    report.kept += 1
                else:
                    updates[member["id"]] = split
            current[label][split] += len(members)
        else:
            pending[label].append(members)

    for label, class_units in sorted(pending.items()):
        rng = np.random.default_rng([seed, _stable_int(label)])
        class_units.sort(key=lambda members: min(m["sha256"] for m in members))
        order = rng.permutation(len(class_units))
        targets = {s: f * totals[label] for s, f in zip(SPLITS, fractions, strict=True)}
        for index in order:
            members = class_units[index]
            split = max(SPLITS, key=lambda s: (targets[s] - current[label][s], -SPLITS.index(s)))
            current[label][split] += len(members)
            for member in members:
                updates[member["id"]] = split

    if updates:
        dataset.set_values(SPLIT_FIELD, updates, key_field="id")
    report.assigned = len(updates)
    report.counts = {s: Counter({label: c[s] for label, c in current.items() if c[s]}) for s in SPLITS}
    info = dict(dataset.info.get("splits") or {})
    info.setdefault("seed", seed)
    info.setdefault("fractions", list(fractions))
    info["counts"] = {s: dict(c) for s, c in report.counts.items()}
    dataset.info["splits"] = info
    dataset.save()
    return report


def _stable_int(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
