"""The walkthrough notebook runs top to bottom on the bundled sample, in a real Jupyter kernel,
as a user runs it: its project starts its own database."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO


def test_walkthrough_notebook_runs_the_whole_loop(monkeypatch):
    monkeypatch.delenv("FIFTYONE_DATABASE_URI", raising=False)  # the kernel inherits the environment
    monkeypatch.delenv("FIFTYONE_DATABASE_DIR", raising=False)
    path = REPO / "notebooks" / "walkthrough.ipynb"
    notebook = nbformat.read(path, as_version=4)
    lines = [
        line.strip()
        for cell in notebook.cells
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
    ]
    assert not [
        line for line in lines if line.startswith(("!", "%%bash", "%sx")) or "subprocess" in line
    ]  # API only
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    for expected in (
        "tulips     19 added, 1 already stored, 0 rejected",
        "[('15922772266_1167a06620.jpg', 'tulips', 'roses')]",
        "local stand-in engine at http://127.0.0.1:",
        "37 results: 24 stored, 10 duplicates, 3 rejected",
        "duplicates            3  view: duplicates",
        "100 embedded with efficientnet-lite0/imagenet; map: umap",
        "suspected mislabels",
        "test top-1",
        "**1.0.0**",
        "relabelled 1 sample: roses → tulips (1)",
        "kept 1 of the 2 copies in group",
        "against 1.0.0: 0 images added, 3 removed, 1 relabelled (roses → tulips: 1); 97 images in all.",
        "DatasetDict(",
        ": 100 rows into the FiftyOne dataset curata-demo-flowers-v1.0.0",
    ):
        assert expected in text, expected
    pictures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pictures) >= 6  # duplicate groups, quality issues, embeddings map, suspects, confusion matrix
