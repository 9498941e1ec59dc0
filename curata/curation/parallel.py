"""Run a per-file function over many files on every core, a chunk of files per task.

One task per file would spend about as long passing messages between processes as hashing a
small JPEG takes, so files travel in chunks, a few per worker at a time so that the workers
finish together. A file that fails gives its error back in its place; the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import BrokenExecutor, Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from multiprocessing import get_context
from typing import Any

from curata.errors import CurataError

PROCESS_POOL_MIN = 64  # below this many files, threads beat starting worker processes
MAX_CHUNK = 32
CHUNKS_PER_WORKER = 4  # enough chunks that no worker waits long for the last one


class FileFailed(Exception):
    """A file the function could not handle; the message says why."""


def map_files(
    function: Callable[[str], Any],
    paths: Sequence[str],
    pool: Executor | None = None,
    workers: int = 0,
    advance: Callable[[int], None] | None = None,
) -> list[Any]:
    """``function(path)`` for every path, in order, with a ``FileFailed`` for each file that failed.

    ``pool`` (from ``file_pool``) can serve several calls, its workers staying warm; without
    one, a pool is started for this call. ``workers``: processes, 0 for one per core.
    """
    if not paths:
        return []
    count = _worker_count(workers)
    size = max(1, min(MAX_CHUNK, len(paths) // (count * CHUNKS_PER_WORKER)))
    chunks = [list(paths[start : start + size]) for start in range(0, len(paths), size)]
    results: list[Any] = []
    with nullcontext(pool) if pool is not None else file_pool(len(paths), workers) as running:
        for chunk, future in [(chunk, running.submit(_each, function, chunk)) for chunk in chunks]:
            try:
                results.extend(future.result())
            except BrokenExecutor as err:  # a worker was killed: out of memory, or a crash in a decoder
                raise CurataError(
                    f"a worker process died while reading images ({err}): out of memory, or a decoder "
                    "crashed on a damaged file; nothing was stored: free memory or lower [curation] "
                    "workers, and rerun"
                ) from None
            if advance:
                advance(len(chunk))
    return results


@contextmanager
def file_pool(jobs: int, workers: int = 0) -> Iterator[Executor]:
    """Worker processes for ``jobs`` files, or threads when there are too few to pay for them."""
    count = _worker_count(workers)
    if jobs < PROCESS_POOL_MIN or count == 1:
        with ThreadPoolExecutor(max_workers=count) as pool:
            yield pool
    else:
        # spawn: a parent holding a database connection must not be forked
        with ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn")) as pool:
            yield pool


def _worker_count(workers: int) -> int:
    return workers or os.cpu_count() or 1


def _each(function: Callable[[str], Any], paths: list[str]) -> list[Any]:
    results = []
    for path in paths:
        try:
            results.append(function(path))
        except Exception as err:  # a damaged or vanished file must not stop the others
            results.append(FileFailed(f"{path}: {type(err).__name__}: {err}"))
    return results
