"""Serve the FiftyOne App on the project's dataset, on the loopback interface unless told otherwise."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
import webbrowser
from dataclasses import dataclass
from typing import TYPE_CHECKING

from curata.errors import CurataError

if TYPE_CHECKING:
    import fiftyone as fo

DEFAULT_PORT = 5151
DEFAULT_ADDRESS = "127.0.0.1"
WORKSPACE = "curata"  # saved by the embed stage: the grid beside the embeddings map


@dataclass
class RunningApp:
    """A served App: its FiftyOne session and the URL a browser opens."""

    session: fo.Session
    url: str

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

        fo.close_app()


def launch_app(
    dataset: fo.Dataset | fo.DatasetView,
    port: int = DEFAULT_PORT,
    address: str = DEFAULT_ADDRESS,
    open_browser: bool = True,
) -> RunningApp:
    """Start the App server for ``dataset`` (or a view of it) and return it with its URL."""
    import fiftyone as fo

    _check_port_free(address, port)
    logging.getLogger("fiftyone.core.session").setLevel(logging.WARNING)  # its ssh-tunnel hints do not apply
    root = dataset._root_dataset if isinstance(dataset, fo.DatasetView) else dataset
    spaces = root.load_workspace(WORKSPACE) if root.has_workspace(WORKSPACE) else None
    session = fo.launch_app(dataset, port=port, address=address, remote=True, spaces=spaces)
    app = RunningApp(session, f"http://{address}:{port}/")
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
