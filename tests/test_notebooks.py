"""The notebooks run top to bottom on the bundled sample (a real Jupyter kernel)."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO


def test_quickstart_notebook_runs():
    path = REPO / "notebooks" / "quickstart.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "97 added, 3 duplicates, 0 rejected" in text
    assert "roses also filed as ['tulips']" in text
    assert "label conflicts       1  view: label-conflicts" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the class grid was drawn
    assert "relabelled 1 sample: roses → tulips (1)" in text
    assert "label     roses → tulips  (relabel, checked the photo)" in text
    assert "undid exclude" in text
