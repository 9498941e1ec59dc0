"""Publishing and pulling versions: a real local git repository, and the Hub's API (contract test).

The round trip goes through real git, real parquet read back by 🤗 Datasets, and the real FiftyOne
database. The Hub cannot be reached from the test machines, so the Hub target is checked against
``FakeHub``, a loopback server recording the calls huggingface_hub makes; a live test runs only
when a token, a scratch repository and the network are given.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from curata.errors import CurataError
from curata.hub.versions import Reference, Version, next_version
from tests.conftest import HUB_TOKEN, run_cli

# The client's own LFS PUT passes a file object as `data=`, which httpx2 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def load_version(repo: Path, tag: str, into: Path):
    """What a user gets from ``load_dataset`` on the repository checked out at ``tag``."""
    from datasets import load_dataset

    subprocess.run(
        ["git", "-c", "advice.detachedHead=false", "clone", "--quiet", "--branch", tag, str(repo), str(into)],
        check=True,
    )
    return load_dataset(str(into), cache_dir=str(into.parent / f"{into.name}-cache"))


def rows_by_sha(dataset_dict) -> dict[str, tuple[str, str, bytes, dict]]:
    """sha256 -> (label name, split, image bytes, row) over every split."""
    rows = {}
    for split, data in dataset_dict.items():
        names = data.features["label"].names
        for row in data.cast_column("image", data.features["image"].__class__(decode=False)):
            rows[row["sha256"]] = (names[row["label"]], split, row["image"]["bytes"], row)
    return rows


@pytest.fixture
def curated(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    project.curate(progress=False)
    return project


def test_versions_are_semantic_and_never_reused():
    published = [Version(1, 0, 0), Version(1, 1, 0)]
    assert next_version("minor", published) == Version(1, 2, 0)
    assert next_version("major", []) == Version(1, 0, 0)
    assert next_version("v1.1.1", published).tag == "v1.1.1"
    with pytest.raises(CurataError, match="already published and is never overwritten; publish 1.1.1"):
        next_version("1.1.0", published)
    with pytest.raises(CurataError, match="older than the newest published version 1.1.0"):
        next_version("1.0.5", published)
    with pytest.raises(CurataError, match="not a version"):
        next_version("1.1", published)
    assert Reference.parse("hf://datasets/alice/ornaments@1.1.0") == Reference(
        "hf://datasets/alice/ornaments", Version(1, 1, 0)
    )
    assert Reference.parse("/data/repos/me@work/flowers") == Reference("/data/repos/me@work/flowers", None)
    assert Reference.parse("file:///srv/flowers.git@v2.0.1").version == Version(2, 0, 1)


def test_two_versions_round_trip_through_a_local_git_repository(curated, tmp_path):
    from huggingface_hub import DatasetCard

    project, repo = curated, tmp_path / "published"
    first = project.publish("1.0.0", target=str(repo), message="first cut", progress=False)
    stored = {s.sha256: s for s in project.dataset}
    labels_before = dict(zip(*project.dataset.values(["sha256", "ground_truth.label"]), strict=True))
    assert first.rows == len(stored) and first.left_out == {}
    with pytest.raises(CurataError, match="already published"):
        project.publish("1.0.0", target=str(repo), progress=False)

    roses = project.dataset.match({"ground_truth.label": "roses", "split": "train"}).limit(2)
    moved = set(roses.values("sha256"))
    project.relabel(roses, "tulips", note="tulips, seen from the side")
    dropped = project.dataset.match({"ground_truth.label": "daisy"}).limit(3)
    excluded = set(dropped.values("sha256"))
    project.exclude(dropped, note="not daisies")
    project.config.hub.shard_mb = 0.5  # small shards: the train split spans several files
    second = project.publish("minor", target=str(repo), message="reviewed roses and daisies", progress=False)
    shards = git(repo, "ls-files", "data").split()
    assert second.shards == len(shards) > 3 and sum(name.startswith("data/train-") for name in shards) > 1
    assert second.version == "1.1.0" and second.rows == len(stored) - 3

    assert git(repo, "tag", "--list").split() == ["v1.0.0", "v1.1.0"]
    assert len(git(repo, "log", "--format=%H").split()) == 2  # one commit per version

    for version, tag, expect_rows in (("1.0.0", "v1.0.0", len(stored)), ("1.1.0", "v1.1.0", len(stored) - 3)):
        rows = rows_by_sha(load_version(repo, tag, tmp_path / f"checkout-{version}"))
        assert len(rows) == expect_rows
        for sha, (label, split, data, row) in rows.items():
            sample = stored[sha]
            assert (
                hashlib.sha256(data).hexdigest()
                == sha
                == hashlib.sha256(Path(sample.filepath).read_bytes()).hexdigest()
            )
            relabelled = version == "1.1.0" and sha in moved
            assert label == ("tulips" if relabelled else labels_before[sha])
            assert row["original_label"] == ("roses" if relabelled else None)
            assert split == {"train": "train", "val": "validation", "test": "test"}[sample.split]
            assert row["engine"] == "folder" and row["phash"] == sample.phash
        if version == "1.1.0":
            assert not excluded & rows.keys()

    card = DatasetCard.load(tmp_path / "checkout-1.1.0" / "README.md")
    assert card.data.license == "other" and card.data.task_categories == ["image-classification"]
    assert [c["config_name"] for c in card.data.configs] == ["default"]
    assert card.data.dataset_info["features"][1]["dtype"]["class_label"]["names"]["4"] == "tulips"
    changelog = card.text.split("## Changelog")[1]
    assert (
        "**1.1.0**" in changelog
        and "against 1.0.0: 0 images added, 3 removed, 2 relabelled (roses → tulips: 2)" in changelog
    )
    assert (
        "reviewed roses and daisies" in changelog
        and "**1.0.0**" in changelog
        and "first version" in changelog
    )
    assert "Left out: 3 images, excluded by a reviewer." in card.text
    assert "## Classes" in card.text and "| 4 | tulips |" in card.text

    # Pull the first version back beside the project's own dataset: labels, splits and provenance intact.
    pulled = project.pull(f"{repo}@1.0.0", progress=False)
    assert pulled.rows == len(stored) and pulled.rejected == [] and pulled.already_stored == 0
    assert pulled.added == len(stored)
    import fiftyone as fo

    copy = fo.load_dataset(pulled.dataset)
    for sample in copy:
        original = stored[sample.sha256]
        assert sample.ground_truth.label == labels_before[sample.sha256]
        assert sample.split == original.split and sample.filepath == original.filepath
        assert sample.source.pulled_from == f"{repo}@1.0.0" and sample.source.engine == "folder"
    assert project.pull(f"{repo}@1.0.0", progress=False).added == 0  # a rerun adds nothing


def test_publish_refuses_what_would_lose_work(curated, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(CurataError, match="folder with files but not a git repository"):
        curated.publish("1.0.0", target=str(busy), progress=False)
    assert list(busy.iterdir()) == [busy / "notes.txt"]

    repo = tmp_path / "repo"
    curated.publish("1.0.0", target=str(repo), progress=False)
    (repo / "README.md").write_text("edited by hand")
    with pytest.raises(CurataError, match="uncommitted changes to published files"):
        curated.publish("1.0.1", target=str(repo), progress=False)
    assert (repo / "README.md").read_text() == "edited by hand" and git(repo, "tag", "--list").split() == [
        "v1.0.0"
    ]
    git(repo, "checkout", "--quiet", "README.md")
    git(repo, "-c", "advice.detachedHead=false", "checkout", "--quiet", "v1.0.0")  # looking at an old version
    with pytest.raises(CurataError, match="older version checked out"):
        curated.publish("1.0.1", target=str(repo), progress=False)
    with pytest.raises(CurataError, match="has no version 2.0.0; published: 1.0.0"):
        curated.pull(f"{repo}@2.0.0", progress=False)


def test_a_bare_repository_behind_a_file_url(curated, tmp_path):
    bare = tmp_path / "flowers.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "--initial-branch=main", str(bare)], check=True)
    url = bare.as_uri()
    curated.publish("1.0.0", target=url, progress=False)
    curated.exclude(curated.dataset.limit(1))
    report = curated.publish("patch", target=url, progress=False)
    assert report.version == "1.0.1" and report.changes["removed"] == 1
    assert git(bare, "tag", "--list").split() == ["v1.0.0", "v1.0.1"]
    assert curated.pull(f"{url}@1.0.1", progress=False).rows == len(curated.dataset) - 1


def test_cli_publishes_and_starts_a_project_from_a_version(curated, tmp_path):
    repo = tmp_path / "repo"
    published = run_cli("publish", "--version", "1.0.0", "-p", str(curated.root), "--target", str(repo), "-q")
    assert published.returncode == 0, published.stderr
    assert "published 1.0.0" in published.stdout and "load it: load_dataset(" in published.stdout
    again = run_cli("publish", "--version", "1.0.0", "-p", str(curated.root), "--target", str(repo), "-q")
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "never overwritten" in again.stderr

    new = tmp_path / "colleague"
    pulled = run_cli(
        "pull", f"{repo}@1.0.0", "-p", str(new), "--dataset", f"{curated.config.dataset.name}-copy", "-q"
    )
    assert pulled.returncode == 0, pulled.stderr
    assert f"{len(curated.dataset)} rows" in pulled.stdout and "0 rejected" in pulled.stdout
    import curata

    colleague = curata.open(new)
    assert colleague.config.class_names == curated.config.class_names
    assert colleague.config.classes[0].queries == curated.config.classes[0].queries
    assert colleague.class_counts() == curated.class_counts()
    assert colleague.config.hub.target == str(repo)


def test_damaged_rows_are_rejected_on_pull(curated, tmp_path):
    """A published file whose image bytes were altered: the row is refused, the rest load."""
    import pyarrow.parquet as pq

    repo = tmp_path / "repo"
    curated.publish("1.0.0", target=str(repo), progress=False)
    shard = next((repo / "data").glob("train-*.parquet"))
    table = pq.read_table(shard)
    images = table.column("image").to_pylist()
    images[0] = {"bytes": images[0]["bytes"][: len(images[0]["bytes"]) // 2], "path": images[0]["path"]}
    images[1] = {"bytes": b"<svg onload=alert(1)>", "path": images[1]["path"]}
    table = table.set_column(0, table.schema.field("image"), [images])
    pq.write_table(table.replace_schema_metadata(table.schema.metadata), shard)
    git(repo, "commit", "--quiet", "-am", "damage")
    git(repo, "tag", "v1.0.1")
    report = curated.pull(f"{repo}@1.0.1", progress=False)
    assert len(report.rejected) == 2 and report.rows == len(curated.dataset)
    assert {reason for _, reason in report.rejected} == {
        "image bytes do not match the row's sha256 (damaged in storage or transfer)"
    }
    assert report.added == len(curated.dataset) - 2


# -- the Hub target: a contract test against FakeHub ---------------------------------------------


def test_hub_contract_publish_resume_tag_and_pull(hub, curated, tmp_path, monkeypatch, capfd, caplog):
    """Create the repo, upload the shards (resuming after a dropped commit), tag each version, pull."""
    import logging

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)  # as a user would: the token comes from the environment
    target = "hf://datasets/alice/flowers"
    first = curated.publish("1.0.0", target=target, endpoint=hub.endpoint, progress=False)
    assert first.load_line == 'load_dataset("alice/flowers", revision="v1.0.0")'
    assert hub.tags("alice/flowers") == {"v1.0.0": first.commit}
    files = hub.files_at("alice/flowers", "v1.0.0")
    assert {"README.md", "curata-manifest.json"} <= files.keys()
    shards = sorted(name for name in files if name.startswith("data/"))
    assert len(shards) == first.shards == 3 and len(hub.lfs_uploads) == 3
    assert 'load_dataset("alice/flowers", revision="v1.0.0")' in files["README.md"].decode()

    # Relabel two training photos; the commit fails once (the connection drops), the rerun completes.
    curated.relabel(
        curated.dataset.match({"split": "train", "ground_truth.label": "roses"}).limit(2), "tulips"
    )
    hub.fail_next("POST", "/commit/")
    with pytest.raises(CurataError, match="the Hub answered HTTP 500"):
        curated.publish("1.1.0", target=target, endpoint=hub.endpoint, progress=False)
    assert hub.tags("alice/flowers") == {"v1.0.0": first.commit}
    uploaded = len(hub.lfs_uploads)
    assert uploaded == 4  # only the train shard changed
    second = curated.publish("1.1.0", target=target, endpoint=hub.endpoint, progress=False)
    assert len(hub.lfs_uploads) == uploaded  # nothing sent twice: the shard is byte-for-byte the same
    assert second.changes["relabelled"] == {"roses → tulips": 2}
    assert set(hub.tags("alice/flowers")) == {"v1.0.0", "v1.1.0"}
    assert hub.files_at("alice/flowers", "v1.0.0") == files  # the old version is untouched

    calls = [(c["method"], c["path"]) for c in hub.calls]
    for expected in (
        ("POST", "/api/repos/create"),
        ("POST", "/api/datasets/alice/flowers/preupload/main"),
        ("POST", "/datasets/alice/flowers.git/info/lfs/objects/batch"),
        ("POST", "/api/datasets/alice/flowers/commit/main"),
        ("POST", "/api/datasets/alice/flowers/tag/" + first.commit),
    ):
        assert expected in calls, expected
    api_calls = [c for c in hub.calls if c["path"].startswith("/api/") and c["method"] == "POST"]
    assert all(c["authorization"] == f"Bearer {HUB_TOKEN}" for c in api_calls)

    pulled = curated.pull(f"{target}@1.0.0", endpoint=hub.endpoint, progress=False)
    assert pulled.rows == first.rows and pulled.rejected == []
    import fiftyone as fo

    labels = dict(zip(*fo.load_dataset(pulled.dataset).values(["sha256", "ground_truth.label"]), strict=True))
    assert labels == {sha: label for sha, (label, _) in _manifest(files).items()}

    output = capfd.readouterr()
    assert HUB_TOKEN not in output.out + output.err + caplog.text


def test_hub_refusal_is_one_line_without_the_token(hub, curated, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_value")
    with pytest.raises(CurataError) as refused:
        curated.publish("1.0.0", target="hf://datasets/alice/flowers", endpoint=hub.endpoint, progress=False)
    message = str(refused.value)
    assert "refused access" in message and "HF_TOKEN" in message and "hf_wrong_token_value" not in message
    assert hub.repos == {}


def test_live_hub_round_trip(curated, tmp_path):
    """Runs only when a person provides a token, a scratch repository and the network."""
    repo = os.environ.get("CURATA_LIVE_HUB_REPO")
    if not (repo and os.environ.get("HF_TOKEN")):
        pytest.skip("live Hub test: set HF_TOKEN and CURATA_LIVE_HUB_REPO=<user>/<scratch-dataset> to run it")
    import socket

    try:
        socket.create_connection(("huggingface.co", 443), timeout=5).close()
    except OSError:
        pytest.skip("live Hub test: huggingface.co cannot be reached from this machine")
    target = f"hf://datasets/{repo}"
    version = curated.publish("patch", target=target, progress=False).version
    assert curated.pull(f"{target}@{version}", progress=False).rows == len(curated.dataset)


def _manifest(files: dict[str, bytes]) -> dict:
    import json

    return json.loads(files["curata-manifest.json"])["samples"]
