"""`curata review` serves the App on loopback; real headless Chromium sees the samples in the grid."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.conftest import cli_env, free_port

pytestmark = pytest.mark.browser


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"review exited early: {process.stdout.read()} {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"App did not answer at {url} within {timeout} s")


def test_review_shows_the_samples_in_headless_chromium(make_project, flowers, chrome, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    project = make_project()
    project.import_folder(flowers, progress=False)
    project.curate(progress=False)
    suspects = project.embed(map_method="pca", progress=False).signals.suspects
    port = free_port()
    curata = Path(sys.executable).with_name("curata")
    process = subprocess.Popen(
        [str(curata), "review", "-p", str(project.root), "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for_http(url, process)
        listening = {
            c.laddr.ip for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port
        }
        assert listening == {"127.0.0.1"}, f"the App must listen on loopback only, not {listening}"
        chrome.get(f"{url}datasets/{project.config.dataset.name}")
        WebDriverWait(chrome, 90).until(lambda d: "41 samples" in d.find_element("tag name", "body").text)
        media_loaded = (
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('/media?') && e.responseStatus === 200).map(e => e.name)"
        )
        WebDriverWait(chrome, 60).until(lambda d: len(d.execute_script(media_loaded)) >= 5)
        loaded = chrome.execute_script(media_loaded)
        assert all(str(project.root / "media").replace("/", "%2F") in name for name in loaded), loaded[:3]
        body = chrome.find_element("tag name", "body").text
        assert "daisy" in body and "ground_truth" in body
        chrome.save_screenshot(str(tmp_path / "app.png"))

        # curate's saved views open by name and hold what curate found
        chrome.get(f"{url}datasets/{project.config.dataset.name}?view=label-conflicts")
        WebDriverWait(chrome, 60).until(
            lambda d: re.search(r"\b1 sample\b", d.find_element("tag name", "body").text)
        )
        dark = len(project.dataset.load_saved_view("issue-dark"))
        chrome.get(f"{url}datasets/{project.config.dataset.name}?view=issue-dark")
        expected = f"{dark} sample" if dark == 1 else f"{dark} samples"
        WebDriverWait(chrome, 60).until(lambda d: expected in d.find_element("tag name", "body").text)

        # embed's suspects view, with the embeddings panel open beside the grid
        chrome.get(f"{url}datasets/{project.config.dataset.name}?view=suspected-mislabels")
        expected = f"{suspects} sample" if suspects == 1 else f"{suspects} samples"
        WebDriverWait(chrome, 60).until(lambda d: expected in d.find_element("tag name", "body").text)
        WebDriverWait(chrome, 60).until(lambda d: "embeddings_map" in d.find_element("tag name", "body").text)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out and "41 samples" in out
    assert "suspected-mislabels" in out and "label-conflicts" in out  # the saved views, with counts
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the App server goes away with the command
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.5)
    else:
        raise AssertionError("the App server kept running after `curata review` was stopped")
