"""Serve the FiftyOne App on the project's dataset, on the loopback interface unless told otherwise."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from curata.errors import CurataError
from curata.review.plugin_install import install_plugin

if TYPE_CHECKING:
    import fiftyone as fo

DEFAULT_PORT = 5151
DEFAULT_ADDRESS = "127.0.0.1"
WORKSPACE = "curata"  # saved by the embed stage: the grid beside the embeddings map


EDIT_CHECK_SECONDS = 3.0  # how often edits made in the App's Annotate tab are logged


@dataclass
class RunningApp:
    """A served App: its FiftyOne session, the URL a browser opens, and the watcher that logs the
    Annotate tab's label edits into the history while it runs."""

    session: fo.Session
    url: str
    watcher: EditWatcher | None = None
    views: list[tuple[str, int, str]] = field(default_factory=list)  # (saved view, samples, description)

    def wait(self) -> None:
        """Block until Ctrl-C or SIGTERM, then stop the server (it would outlive a killed parent)."""
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        try:
            while True:
                time.sleep(1)
        finally:
            self.close()

    def close(self) -> None:
        import fiftyone as fo

        if self.watcher is not None:
            self.watcher.stop()
        fo.close_app()


class EditWatcher(threading.Thread):
    """Logs label edits made in the App (or with FiftyOne directly) every few seconds, and once
    more on stop, so they enter the same history as the operators' decisions."""

    def __init__(self, dataset: fo.Dataset, every: float = EDIT_CHECK_SECONDS):
        super().__init__(name="curata-edit-watcher", daemon=True)
        self.dataset = dataset
        self.every = every
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.every):
            self.check()

    def check(self) -> None:
        from curata.review.history import record_outside_edits

        try:
            record_outside_edits(self.dataset)
        except Exception as err:  # a database hiccup must not kill the App; the next check retries
            logging.getLogger(__name__).warning("could not log App edits yet: %s", err)

    def stop(self) -> None:
        self._stopping.set()
        if self.is_alive():
            self.join(timeout=10)
        self.check()


def launch_app(
    dataset: fo.Dataset | fo.DatasetView,
    project_root: Path,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    open_browser: bool = True,
) -> RunningApp:
    """Start the App server, with curata's plugin, for ``dataset`` (or a view of it); return it
    with its URL."""
    import fiftyone as fo

    _check_port_free(address, port)
    logging.getLogger("fiftyone.core.session").setLevel(logging.WARNING)  # its ssh-tunnel hints do not apply
    # FiftyOne re-reads its own App config when operators run and warns about options it removed
    logging.getLogger("fiftyone.core.config").setLevel(logging.ERROR)
    install_plugin(project_root)  # before the server starts: it reads the plugins folder then
    root = dataset._root_dataset if isinstance(dataset, fo.DatasetView) else dataset
    spaces = root.load_workspace(WORKSPACE) if root.has_workspace(WORKSPACE) else None
    session = fo.launch_app(dataset, port=port, address=address, remote=True, spaces=spaces)
    watcher = EditWatcher(root)
    watcher.start()
    app = RunningApp(session, f"http://{address}:{port}/", watcher)
    if open_browser and _has_display():
        webbrowser.open(app.url)
    return app


def _has_display() -> bool:
    """A browser can be opened here (a headless server would only print errors)."""
    return sys.platform in ("darwin", "win32") or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _check_port_free(address: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((address, port))
        except OSError as err:
            raise CurataError(
                f"cannot serve the App on {address}:{port} ({err.strerror}); "
                "another App may be running there: pass --port to use another port"
            ) from None
