"""Headless Chromium for the engine adapters: Debian's matched chromium and chromium-driver, never
a driver download, and a way to read the HTTP status of the page it loaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from curata.errors import CurataError

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

DRIVER_PATHS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--window-size=1400,1000",
)


def chromedriver() -> Path:
    for candidate in (os.environ.get("CURATA_CHROMEDRIVER"), *DRIVER_PATHS, shutil.which("chromedriver")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise CurataError(
        "chromedriver was not found; install Debian's chromium and chromium-driver "
        "(`make install` does) or set CURATA_CHROMEDRIVER to its path"
    )


def open_browser(user_agent: str = "", loopback_only: bool | None = None) -> WebDriver:
    """Start headless Chromium. ``loopback_only`` (default: the environment variable
    ``CURATA_LOOPBACK_ONLY=1``, which the tests set) makes every host but 127.0.0.1 unresolvable."""
    if loopback_only is None:
        loopback_only = os.environ.get("CURATA_LOOPBACK_ONLY") == "1"
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
    options = webdriver.ChromeOptions()
    for flag in FLAGS:
        options.add_argument(flag)
    if user_agent:
        options.add_argument(f"--user-agent={user_agent}")
    if loopback_only:
        options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    try:
        return webdriver.Chrome(service=Service(str(chromedriver())), options=options)
    except WebDriverException as err:
        first_line = (err.msg or str(err)).strip().splitlines()[0]
        raise CurataError(
            f"headless Chromium did not start ({first_line}); chromium and chromium-driver must be "
            "the same version: reinstall both from your distribution"
        ) from None


def page_status(driver: WebDriver) -> int | None:
    """The HTTP status of the document now loaded (Chromium reports it in Navigation Timing)."""
    try:
        status = driver.execute_script(
            "const n = performance.getEntriesByType('navigation')[0]; return n ? n.responseStatus : null;"
        )
    except Exception:
        return None
    return int(status) if status else None
