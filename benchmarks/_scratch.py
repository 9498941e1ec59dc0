"""A throw-away folder for a benchmark's projects, removed afterwards with their database."""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_folder(prefix: str) -> Iterator[Path]:
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if "fiftyone" in sys.modules:  # stop using the project's mongod before its folder goes
            from curata.store import disconnect

            disconnect()
        shutil.rmtree(workdir, ignore_errors=True)
