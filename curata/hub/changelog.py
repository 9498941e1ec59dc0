"""What changed between two published versions, from their manifests.

Each version's manifest lists every published image (sha256 → label, split), so the changelog
is exact: images added and removed, labels changed (counted by from → to) and split moves.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any


def entry(
    version: str, samples: dict[str, list[str]], previous: dict[str, Any] | None, message: str | None
) -> dict[str, Any]:
    """The changelog entry of ``version`` against the ``previous`` version's manifest."""
    labels = Counter(label for label, _ in samples.values())
    record: dict[str, Any] = {
        "version": version,
        "date": datetime.now(UTC).date().isoformat(),
        "message": message or "",
        "rows": len(samples),
        "classes": dict(sorted(labels.items())),
    }
    if previous is None:
        return record | {"previous": None, "added": len(samples), "removed": 0, "relabelled": {}, "moved": 0}
    before: dict[str, list[str]] = previous["samples"]
    common = samples.keys() & before.keys()
    relabelled = Counter(
        f"{before[sha][0]} → {samples[sha][0]}" for sha in common if before[sha][0] != samples[sha][0]
    )
    return record | {
        "previous": previous["version"],
        "added": len(samples.keys() - before.keys()),
        "removed": len(before.keys() - samples.keys()),
        "relabelled": dict(relabelled.most_common()),
        "moved": sum(before[sha][1] != samples[sha][1] for sha in common),
        "classes_added": sorted(labels.keys() - set(previous.get("class_names", []))),
    }


def describe(record: dict[str, Any]) -> str:
    """One markdown bullet for the card."""
    head = f"**{record['version']}** ({record['date']})"
    if record.get("previous") is None:
        text = f"{head}: first version, {record['rows']} images in {len(record['classes'])} classes."
    else:
        relabels = sum(record["relabelled"].values())
        parts = [
            f"{record['added']} images added",
            f"{record['removed']} removed",
            f"{relabels} relabelled"
            + (f" ({', '.join(f'{k}: {v}' for k, v in record['relabelled'].items())})" if relabels else ""),
        ]
        if record["moved"]:
            parts.append(f"{record['moved']} moved to another split")
        if record.get("classes_added"):
            parts.append("new classes: " + ", ".join(record["classes_added"]))
        text = (
            f"{head}, against {record['previous']}: "
            + ", ".join(parts)
            + f"; {record['rows']} images in all."
        )
    return f"- {text}" + (f" — {record['message']}" if record["message"] else "")
