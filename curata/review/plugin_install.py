"""Make FiftyOne load curata's plugin, beside the user's own plugins, with nothing to copy by hand.

FiftyOne loads plugins from one folder (``FIFTYONE_PLUGINS_DIR``). curata points it at the
project's ``.curata/plugins``, which links to the plugin inside the installed package (so an
upgrade of curata upgrades the plugin) and to every plugin in the user's own plugins folder (so
nothing they installed disappears while the App serves a curata project).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from curata.store import STATE_DIR

PLUGIN_NAME = "@curata/review"
PLUGIN_LINK = "curata-review"
PLUGINS_DIR = "plugins"
log = logging.getLogger(__name__)

_user_plugins_dir: str | None = None  # the folder FiftyOne used before curata pointed it elsewhere


def plugin_source() -> Path:
    return Path(__file__).parent / "plugin"


def install_plugin(project_root: Path) -> Path:
    """Point this process (and the App server it starts) at ``.curata/plugins``; return that folder."""
    import fiftyone as fo

    global _user_plugins_dir
    if _user_plugins_dir is None:
        _user_plugins_dir = fo.config.plugins_dir or ""
    folder = Path(project_root) / STATE_DIR / PLUGINS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():  # links from an earlier run: rebuilt below
        if entry.is_symlink():
            entry.unlink()
        elif entry.name == PLUGIN_LINK:
            shutil.rmtree(entry)
    _link(plugin_source(), folder / PLUGIN_LINK, copy_if_unsupported=True)
    user = Path(_user_plugins_dir) if _user_plugins_dir else None
    if user and user.is_dir() and user.resolve() != folder.resolve():
        for plugin in user.iterdir():
            if not plugin.name.startswith(".") and plugin.name != PLUGIN_LINK:
                _link(plugin, folder / plugin.name, copy_if_unsupported=False)
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(folder)  # the App server is a child process
    fo.config.plugins_dir = str(folder)
    return folder


def _link(source: Path, link: Path, copy_if_unsupported: bool) -> None:
    try:
        link.symlink_to(source.resolve(), target_is_directory=source.is_dir())
    except OSError as err:  # e.g. Windows without developer mode
        if copy_if_unsupported:
            shutil.copytree(source, link, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            log.warning("could not make plugin %s available to the App: %s", source, err)
