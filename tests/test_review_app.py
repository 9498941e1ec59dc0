"""`curata review` serves the App on loopback; real headless Chromium sees the samples in the grid."""

from __future__ import annotations

import json
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

from curata.review import history
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

        review_a_label_conflict_through_the_app_ui(project, chrome, url)
        edit_a_label_in_the_annotate_tab(project, chrome, url)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out and "41 samples" in out
    assert "suspected-mislabels" in out and "label-conflicts" in out  # the saved views, with counts
    order = ["suspected-mislabels", "label-conflicts", "duplicates", "outliers", "issue-blurry", "unreviewed"]
    positions = [out.index(f"│ {name} ") for name in order]
    assert positions == sorted(positions), "saved views are listed in working order"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the App server goes away with the command
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.5)
    else:
        raise AssertionError("the App server kept running after `curata review` was stopped")


def review_a_label_conflict_through_the_app_ui(project, chrome, url: str) -> None:
    """Open the label-conflicts view, run "curata: Mark reviewed" from the App's operator browser
    (the backtick key), press Execute; the database and the history show the decision."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    dataset = project.dataset
    (conflict,) = dataset.match_tags("label-conflict").values("id")
    before = dataset[conflict].last_modified_at
    chrome.get(f"{url}datasets/{project.config.dataset.name}?view=label-conflicts")
    WebDriverWait(chrome, 60).until(
        lambda d: re.search(r"\b1 sample\b", d.find_element("tag name", "body").text)
    )
    ActionChains(chrome).send_keys("`").perform()
    WebDriverWait(chrome, 30).until(
        lambda d: d.find_elements(By.XPATH, "//*[text()='curata: Mark reviewed']")
    )
    ActionChains(chrome).send_keys("curata: mark").perform()
    chrome.find_element(By.XPATH, "//*[text()='curata: Mark reviewed']").click()
    WebDriverWait(chrome, 30).until(
        lambda d: (
            "Mark the 1" in d.find_element("tag name", "body").text
            or "Mark all 1 samples" in d.find_element("tag name", "body").text
        )
    )
    execute = WebDriverWait(chrome, 30).until(
        lambda d: next((b for b in d.find_elements(By.TAG_NAME, "button") if b.text == "Execute"), None)
    )
    execute.click()
    WebDriverWait(chrome, 60).until(lambda d: "reviewed" in _tags(dataset, conflict))
    WebDriverWait(chrome, 60).until(
        lambda d: re.search(r"\b0 samples\b", d.find_element("tag name", "body").text)
    )
    (change,) = [c for c in history.changes(dataset) if c.sample_id == conflict]
    assert (change.what, change.before, change.after, change.how, change.via) == (
        "reviewed", "unreviewed", "reviewed", "mark-reviewed", "app",
    )  # fmt: skip

    # the App still holding the sample as it was before the decision cannot overwrite it
    stale = _patch_label(project, conflict, "daisy", before, url)
    assert stale.status_code == 412
    assert "reviewed" in _tags(dataset, conflict) and dataset[conflict].ground_truth.label != "daisy"


def edit_a_label_in_the_annotate_tab(project, chrome, url: str) -> None:
    """Open a sample, switch to the Annotate tab, pick another class for ground_truth: the App
    saves it, and the review process logs it in the same history within seconds."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    dataset = project.dataset
    sample = dataset.first()
    old = sample.ground_truth.label
    new = "tulips" if old != "tulips" else "daisy"
    chrome.get(f"{url}datasets/{project.config.dataset.name}?id={sample.id}")  # the sample view
    annotate = WebDriverWait(chrome, 60).until(
        lambda d: next(iter(d.find_elements(By.XPATH, "//*[text()='Annotate']")), None)
    )
    chrome.execute_script("arguments[0].click()", annotate)

    def in_sidebar(text):  # the modal's sidebar is the right-hand part of the window
        return lambda d: next(
            (e for e in d.find_elements(By.XPATH, f"//*[text()='{text}']") if e.rect["x"] > 900), None
        )

    chrome.execute_script("arguments[0].click()", WebDriverWait(chrome, 30).until(in_sidebar(old)))
    chrome.execute_script("arguments[0].click()", WebDriverWait(chrome, 30).until(in_sidebar(new)))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        logged = [c for c in history.changes(dataset) if c.sample_id == sample.id]
        if logged:
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the Annotate tab's edit never reached the history")
    (change,) = logged
    assert (change.what, change.before, change.after, change.how) == ("label", old, new, "annotate")
    assert dataset.select(sample.id).values("ground_truth.label") == [new]


def _patch_label(project, sample_id: str, label: str, last_modified_at, url: str):
    import requests

    dataset = project.dataset
    return requests.patch(
        f"{url}dataset/{dataset._doc.id}/sample/{sample_id}",
        data=json.dumps([{"op": "replace", "path": "/ground_truth/label", "value": label}]),
        headers={"Content-Type": "application/json-patch+json", "If-Match": last_modified_at.isoformat()},
        timeout=30,
    )


def _tags(dataset, sample_id: str) -> list[str]:
    dataset.reload()
    return dataset.select(sample_id).values("tags")[0]
