"""The fake Hub speaks enough of the Hub's HTTP API for the real huggingface_hub client (LFS path, no Xet)."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub

REPO = "alice/flowers"
TOKEN = "hf_secret"
# The client's own LFS PUT passes a file object as `data=`, which httpx2 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


def api_for(hub: FakeHub, token: str | bool = TOKEN):
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub.endpoint, token=token)


def write_release(folder: Path, manifest: str, shards: dict[str, bytes]) -> Path:
    """A dataset folder as a release publishes it: card, manifest, parquet shards under data/."""
    folder.mkdir(parents=True)
    (folder / "README.md").write_text("---\nlicense: cc-by-4.0\n---\n# Flowers\n")
    (folder / "curata-manifest.json").write_text(manifest)
    (folder / "data").mkdir()
    for name, data in shards.items():
        (folder / "data" / name).write_bytes(data)
    return folder


def big(seed: int) -> bytes:
    return random.Random(seed).randbytes(11 * 1024 * 1024)  # over 10 MB: LFS whatever the extension


def upload(api, folder: Path, message: str):
    return api.upload_folder(
        repo_id=REPO,
        repo_type="dataset",
        folder_path=folder,
        commit_message=message,
        delete_patterns=["data/*"],
    )


def test_publish_tag_and_download_round_trip(hub, tmp_path, capfd, caplog):
    import huggingface_hub
    from huggingface_hub.utils import HfHubHTTPError

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="huggingface_hub")
    api = api_for(hub)
    api.create_repo(REPO, repo_type="dataset", private=False, exist_ok=True)
    api.create_repo(REPO, repo_type="dataset", private=False, exist_ok=True)  # 409, tolerated
    assert [c["status"] for c in hub.calls_to("POST", "/api/repos/create")] == [200, 409]

    v1 = {"train-00000-of-00002.parquet": big(1), "train-00001-of-00002.parquet": big(2)}
    first = upload(api, write_release(tmp_path / "v1", '{"version": "1.0.0"}', v1), "Release 1.0.0")
    assert len(hub.lfs_uploads) == 2
    api.create_tag(REPO, repo_type="dataset", tag="v1.0.0", tag_message="first", revision=first.oid)
    with pytest.raises(HfHubHTTPError) as duplicate:
        api.create_tag(REPO, repo_type="dataset", tag="v1.0.0", tag_message="again", revision="main")
    assert duplicate.value.response.status_code == 409

    # One shard changed, one dropped, one kept: only the changed bytes travel; the dropped shard is deleted.
    v2 = {"train-00000-of-00002.parquet": big(1), "train-00001-of-00003.parquet": big(3)}
    second = upload(api, write_release(tmp_path / "v2", '{"version": "2.0.0"}', v2), "Release 2.0.0")
    assert len(hub.lfs_uploads) == 3
    assert sorted(hub.files_at(REPO, "main")) == [
        ".gitattributes",
        "README.md",
        "curata-manifest.json",
        "data/train-00000-of-00002.parquet",
        "data/train-00001-of-00003.parquet",
    ]
    refs = api.list_repo_refs(REPO, repo_type="dataset")
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", second.oid)]
    assert (
        [(t.name, t.target_commit) for t in refs.tags]
        == [("v1.0.0", first.oid)]
        == list(hub.tags(REPO).items())
    )
    assert api.repo_info(REPO, repo_type="dataset", revision="v1.0.0").sha == first.oid
    assert "data/train-00001-of-00003.parquet" in api.list_repo_files(REPO, repo_type="dataset")

    # Downloads at the tag give the first release, byte for byte.
    kwargs = dict(repo_type="dataset", revision="v1.0.0", endpoint=hub.endpoint, token=TOKEN)
    manifest = huggingface_hub.hf_hub_download(
        REPO, "curata-manifest.json", cache_dir=tmp_path / "c1", **kwargs
    )
    assert Path(manifest).read_text() == '{"version": "1.0.0"}'
    expected = hub.files_at(REPO, "v1.0.0")
    assert expected["data/train-00001-of-00002.parquet"] == v1["train-00001-of-00002.parquet"]
    for local_dir in (None, tmp_path / "checkout"):
        root = Path(
            huggingface_hub.snapshot_download(REPO, cache_dir=tmp_path / "c2", local_dir=local_dir, **kwargs)
        )
        got = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
        assert {k: v for k, v in got.items() if not k.startswith(".cache/")} == expected

    # Every call to the Hub API carries the token; LFS PUTs go to storage without it, as on the real Hub.
    puts = hub.calls_to("PUT", "/lfs-upload/")
    assert len(puts) == 3 and all(c["authorization"] is None for c in puts)
    assert all(c["authorization"] == f"Bearer {TOKEN}" for c in hub.calls if c not in puts)
    out, err = capfd.readouterr()
    assert hub.endpoint in caplog.text  # the client did log its requests, just never the token
    assert TOKEN not in out + err + caplog.text


def test_lfs_batch_skips_objects_the_hub_already_has(hub, tmp_path):
    """An upload interrupted after the PUTs but before the commit resumes without sending the bytes again."""
    from huggingface_hub import CommitOperationAdd

    api = api_for(hub)
    api.create_repo(REPO, repo_type="dataset", exist_ok=True)
    shards = {"train-00000-of-00001.parquet": big(7)}
    folder = write_release(tmp_path / "v1", "{}", shards)
    api.preupload_lfs_files(
        REPO, repo_type="dataset", additions=[CommitOperationAdd("data/train-00000-of-00001.parquet", big(7))]
    )
    assert len(hub.lfs_uploads) == 1 and sorted(hub.files_at(REPO)) == [
        ".gitattributes"
    ]  # uploaded, no commit

    calls_before = len(hub.calls)
    upload(api, folder, "Release 1.0.0")
    assert len(hub.lfs_uploads) == 1  # nothing PUT the second time
    assert [
        c for c in hub.calls[calls_before:] if "lfs/objects/batch" in c["path"]
    ]  # yet the batch was asked
    assert hub.files_at(REPO)["data/train-00000-of-00001.parquet"] == shards["train-00000-of-00001.parquet"]


def test_unknown_repo_revision_and_file_raise_the_client_errors(hub, tmp_path):
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    api = api_for(hub)
    api.create_repo(REPO, repo_type="dataset", exist_ok=True)
    download = dict(repo_type="dataset", endpoint=hub.endpoint, token=TOKEN, cache_dir=tmp_path / "cache")
    with pytest.raises(RevisionNotFoundError):
        huggingface_hub.hf_hub_download(REPO, ".gitattributes", revision="v9.9.9", **download)
    with pytest.raises(RevisionNotFoundError):
        huggingface_hub.snapshot_download(REPO, revision="v9.9.9", **download)
    with pytest.raises(EntryNotFoundError):
        huggingface_hub.hf_hub_download(REPO, "curata-manifest.json", revision="main", **download)
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info("alice/missing", repo_type="dataset")
    with pytest.raises(RepositoryNotFoundError):
        huggingface_hub.hf_hub_download("alice/missing", "README.md", **download)


def test_writes_without_the_token_are_refused(hub, tmp_path):
    from huggingface_hub.utils import HfHubHTTPError

    with pytest.raises(HfHubHTTPError) as refused:
        api_for(hub, token=False).create_repo(REPO, repo_type="dataset")
    assert refused.value.response.status_code == 401 and hub.repos == {}
