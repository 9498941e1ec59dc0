"""Shared fixtures: one real MongoDB for the session, projects in temp folders, shared data.

The session's mongod is FiftyOne's bundled binary, started on a free loopback port before
FiftyOne is imported; tests reach it through ``FIFTYONE_DATABASE_URI``, the same path users
take for an external database. Tests of the per-project managed database run the CLI in a
subprocess without that variable.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
_mongod: subprocess.Popen | None = None
_mongod_dir: Path | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bundled_mongod() -> Path:
    spec = importlib.util.find_spec("fiftyone")
    assert spec and spec.submodule_search_locations, "fiftyone is not installed"
    return Path(spec.submodule_search_locations[0]) / "db" / "bin" / "mongod"


def pytest_configure(config: pytest.Config) -> None:
    global _mongod, _mongod_dir
    if "fiftyone" in sys.modules:
        raise RuntimeError("fiftyone was imported before the test database was configured")
    db_dir = _mongod_dir = Path(tempfile.mkdtemp(prefix="curata-test-mongo-"))
    port = free_port()
    _mongod = subprocess.Popen(
        [
            str(bundled_mongod()),
            "--dbpath",
            str(db_dir),
            "--port",
            str(port),
            "--bind_ip",
            "127.0.0.1",
            "--logpath",
            str(db_dir / "mongod.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if _mongod.poll() is not None:
            raise RuntimeError(f"test mongod exited with {_mongod.returncode}; see {db_dir / 'mongod.log'}")
        time.sleep(0.2)
    os.environ["FIFTYONE_DATABASE_URI"] = f"mongodb://127.0.0.1:{port}"
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    os.environ["HF_HUB_OFFLINE"] = "1"  # no test ever reaches the Hugging Face Hub
    os.environ["CURATA_LOOPBACK_ONLY"] = "1"  # the scrapers' browser resolves 127.0.0.1 only
    os.environ.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _mongod is not None:
        _mongod.terminate()
        try:
            _mongod.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _mongod.kill()
    if _mongod_dir is not None:
        shutil.rmtree(_mongod_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test images not found at {SHARED_DATA} (the shared data folder beside the repo)")
    return SHARED_DATA


@pytest.fixture
def make_project(tmp_path):
    """Create a project with a unique dataset name (tests share one database) and the offline model."""
    import curata

    def make(classes=("daisy", "dandelion", "roses", "sunflowers", "tulips"), folder="project"):
        project = curata.init(tmp_path / folder, name=f"test-{uuid.uuid4().hex[:12]}", classes=list(classes))
        config = project.root / "curata.toml"  # tests are offline: the model that ships with curata
        config.write_text(
            config.read_text().replace('backend = "open_clip"', 'backend = "efficientnet-lite0"')
        )
        return curata.open(project.root)

    return make


@pytest.fixture
def flowers(shared_data, tmp_path) -> Path:
    """A small class-folder tree of real flower photos (8 per class), plus the cross-class duplicate."""
    source = shared_data / "tf-flowers-subset" / "images"
    target = tmp_path / "flowers"
    for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        (target / class_dir.name).mkdir(parents=True)
        for photo in sorted(class_dir.glob("*.jpg"))[:8]:
            shutil.copy(photo, target / class_dir.name / photo.name)
    duplicate = "15922772266_1167a06620.jpg"
    for cls in ("roses", "tulips"):
        shutil.copy(source / cls / duplicate, target / cls / duplicate)
    return target


def cli_env(**overrides: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["COLUMNS"] = "200"  # rich wraps at 80 columns when not on a terminal
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180, cwd: Path | None = None):
    curata = Path(sys.executable).with_name("curata")
    return subprocess.run(
        [str(curata), *args], capture_output=True, text=True, timeout=timeout, env=env or cli_env(), cwd=cwd
    )


@pytest.fixture
def tiny_open_clip(tmp_path):
    """A randomly initialised open_clip model (real tokenizer sizes) saved to a local weights file."""
    import curata.torch_compat  # noqa: F401  (before torchvision)

    # isort: split
    import open_clip
    import torch

    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    }
    (tmp_path / "curata-tiny-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "curata-tiny-clip.json")
    weights = tmp_path / "tiny-clip.pt"
    torch.save(open_clip.create_model("curata-tiny-clip", pretrained=None).state_dict(), weights)
    return "curata-tiny-clip", weights


@pytest.fixture
def chrome():
    """Real headless Debian Chromium through Selenium, with every host but loopback unresolvable."""
    from curata.scrapers.browser import open_browser

    assert Path("/usr/bin/chromedriver").exists(), "Debian's chromium-driver is missing: run `make install`"
    driver = open_browser(loopback_only=True)
    try:
        yield driver
    finally:
        driver.quit()


HUB_TOKEN = "hf_secret"  # what the fake Hub demands; tests check it never shows in output


@pytest.fixture
def hub(monkeypatch):
    """A running FakeHub; the client online, without Xet or telemetry, and unable to reach any other host."""
    from huggingface_hub import constants

    from tests.fake_hub import FakeHub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # conftest sets it for every other test
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)

    elsewhere: list = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            elsewhere.append(host)
            raise OSError(f"tests may only reach 127.0.0.1, not {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in ("127.0.0.1", "::1"):
            elsewhere.append(address)
            raise OSError(f"tests may only reach 127.0.0.1, not {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    with FakeHub(token=HUB_TOKEN) as fake:
        yield fake
    assert elsewhere == [], f"the client tried to reach other hosts: {elsewhere}"
