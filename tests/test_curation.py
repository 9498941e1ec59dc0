"""`curate` on real ground truth: duplicates, conflicts, quality issues, leaks, incremental reruns."""

from __future__ import annotations

import csv
import json
import os
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from curata.config import CurationSection, parse_config
from curata.curation.analysis import analyse
from curata.curation.curate import DUP_TAG, LEAK_TAG
from curata.curation.duplicates import Member, find_groups
from curata.curation.parallel import PROCESS_POOL_MIN, FileFailed, map_files
from curata.curation.quality import ISSUES_BY_NAME
from curata.curation.rotated import rotated_pairs
from curata.errors import CurataError
from curata.images import pixel_digest


def pairs_of(groups) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in combinations(g, 2)}


def by_original_path(project) -> dict[str, str]:
    """sample id -> original path (import dedups identical bytes: one path per sample)."""
    ids, paths = project.dataset.values(["id", "source.original_path"])
    return dict(zip(ids, paths, strict=True))


def test_imagededup_ground_truth(make_project, shared_data, capsys):
    root = shared_data / "imagededup-tests"
    truth = json.loads((root / "ground_truth.json").read_text())
    project = make_project(classes=("ukbench",))
    imported = project.import_folder(root, label="ukbench", progress=False)
    corrupt = {path for path, _ in imported.rejected}
    assert {
        "mixed_images/ukbench09268_corrupt.jpg",
        "mixed_nested_images/ukbench09268_corrupt.jpg",
    } <= corrupt
    report = project.curate(progress=False)

    path_of = by_original_path(project)
    found = pairs_of([[path_of[m.id] for m in g.members] for g in report.groups])
    # Byte-identical copies became one sample at import, stored under the first path seen.
    near_group = [
        p.replace("mixed_images/ukbench00120.jpg", "base_images/ukbench00120.jpg")
        for p in truth["near_duplicate_groups"][0]
    ]
    # alpha_channel_image.png is ukbench00120 with an alpha channel: a true copy the file does not list.
    expected = pairs_of([near_group + ["alpha_channel_image.png"], *truth["same_pixels_different_encoding"]])
    true_positives = found & expected
    precision = len(true_positives) / max(len(found), 1)
    recall = len(true_positives) / len(expected)
    with capsys.disabled():
        print(
            f"\nimagededup-tests near-duplicate pairs: precision {precision:.2f}, recall {recall:.2f} "
            f"({len(true_positives)}/{len(expected)})"
        )
    assert expected <= found, "resize, flip, rotation, grey, alpha and re-encoded copies are found"
    assert precision == 1.0
    assert report.count("duplicates") == sum(len(g.members) - 1 for g in report.groups)


def test_cleanvision_ground_truth(make_project, shared_data, capsys):
    root = shared_data / "cleanvision-tests"
    truth = json.loads((root / "ground_truth.json").read_text())
    project = make_project(classes=("web",))
    imported = project.import_folder(root / "images", label="web", progress=False)
    assert imported.added == 9 and imported.duplicates == 1  # image_236 is byte-identical to image_142
    report = project.curate(progress=False)
    names = {i: p.split("/")[-1] for i, p in by_original_path(project).items()}
    scores = []
    for issue in ("dark", "light", "blurry", "grayscale", "low_information", "odd_size", "odd_aspect_ratio"):
        flagged = {names[i] for i in project.dataset.match_tags(f"issue:{issue}").values("id")}
        expected = {image for image, issues in truth["per_image_issues"].items() if issue in issues}
        scores.append((issue, len(flagged & expected), len(flagged), len(expected)))
        assert flagged == expected, issue
    near = [sorted(names[m.id] for m in g.members) for g in report.groups]
    assert near == [["image_103.png", "image_408.png"]]
    with capsys.disabled():
        print(
            "\ncleanvision-tests issues (true positives / flagged / expected): "
            + ", ".join(f"{n} {tp}/{f}/{e}" for n, tp, f, e in scores)
        )


def test_cross_class_duplicate_in_flowers_is_a_label_conflict(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    report = project.curate(progress=False)
    conflicts = project.dataset.load_saved_view("label-conflicts")
    assert report.count("label conflicts") == len(conflicts) == 1
    assert conflicts.first().source.original_path == "roses/15922772266_1167a06620.jpg"
    assert conflicts.first().label_conflicts == ["tulips"]


def test_sharp_photos_score_sharper_than_their_blurred_shots(shared_data, capsys):
    """Against cleanvision's own blurry score on the same camera photos, run here."""
    from cleanvision import Imagelab

    root = shared_data / "blur-triplets"
    with open(root / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    blurry = ISSUES_BY_NAME["blurry"]
    score = {row["file"]: blurry.score(analyse(str(root / row["file"])).as_dict()) for row in rows}
    for scene in {row["scene_id"] for row in rows}:
        shots = [row for row in rows if row["scene_id"] == scene]
        sharp = next(score[r["file"]] for r in shots if r["blur_type"] == "sharp")
        assert all(sharp > score[r["file"]] for r in shots if r["blur_type"] != "sharp"), scene
    is_sharp = [r["blur_type"] == "sharp" for r in rows]
    auc = roc_auc_score(is_sharp, [score[r["file"]] for r in rows])
    threshold = CurationSection().thresholds.blurry
    flagged = [score[r["file"]] < threshold for r in rows]
    blurred_flagged = sum(f and not s for f, s in zip(flagged, is_sharp, strict=True))
    sharp_flagged = sum(f and s for f, s in zip(flagged, is_sharp, strict=True))
    files = [str(root / row["file"]) for row in rows]
    lab = Imagelab(filepaths=files, verbose=False)
    lab.find_issues({"blurry": {}}, verbose=False)
    theirs = roc_auc_score(is_sharp, [lab.issues.loc[f, "blurry_score"] for f in files])
    with capsys.disabled():
        print(
            f"\nblur-triplets sharp-vs-blurred ranking AUC: {auc:.3f} (cleanvision's blurry score: "
            f"{theirs:.3f}); flagged blurry: {blurred_flagged}/{is_sharp.count(False)} blurred shots, "
            f"{sharp_flagged}/{is_sharp.count(True)} sharp ones"
        )
    assert auc >= 0.95 and auc > theirs + 0.2
    assert sharp_flagged == 0


def test_low_light_photos_are_dark_among_flowers(make_project, shared_data, tmp_path, capsys):
    folder = tmp_path / "mixed"
    shutil.copytree(shared_data / "tf-flowers-subset" / "images" / "daisy", folder / "daisy")
    shutil.copytree(shared_data / "low-light" / "images", folder / "dark")
    project = make_project(classes=("daisy", "dark"))
    project.import_folder(folder, progress=False)
    project.curate(progress=False)
    flagged = project.dataset.match_tags("issue:dark")
    labels = flagged.values("ground_truth.label")
    caught, false_alarms = labels.count("dark"), labels.count("daisy")
    called_blurry = project.dataset.match_tags("issue:blurry").match({"ground_truth.label": "dark"})
    with capsys.disabled():
        print(
            f"\nlow-light: {caught}/12 flagged dark; {false_alarms}/120 daisy photos flagged dark; "
            f"{len(called_blurry)}/12 low-light photos called blurry"
        )
    assert caught >= 11 and false_alarms <= 4
    assert len(called_blurry) == 0, "dark photos in focus are dark, not blurry"
    worst = project.dataset.load_saved_view("issue-dark").values("dark_score")
    assert worst == sorted(worst)


def test_rerun_is_incremental_and_thresholds_retag_without_decoding(make_project, flowers, tmp_path):
    project = make_project()
    first_half = tmp_path / "first"
    for class_dir in flowers.iterdir():
        (first_half / class_dir.name).mkdir(parents=True)
        for photo in sorted(class_dir.iterdir())[:6]:
            shutil.copy(photo, first_half / class_dir.name / photo.name)
    project.import_folder(first_half, progress=False)
    first = project.curate(progress=False)
    before = len(project.dataset)
    assert first.analysed == before and first.reused == 0
    stamps = dict(zip(*project.dataset.values(["id", "image_stats.sharpness"]), strict=True))

    project.import_folder(flowers, progress=False)
    second = project.curate(progress=False)
    assert len(project.dataset) == 41
    assert second.analysed == 41 - before and second.reused == before
    after = dict(zip(*project.dataset.values(["id", "image_stats.sharpness"]), strict=True))
    assert all(after[i] == v for i, v in stamps.items())

    text = (project.root / "curata.toml").read_text() + "\n"
    (project.root / "curata.toml").write_text(text.replace("blurry = 0.25", "blurry = 0.99"))
    project.config = parse_config((project.root / "curata.toml").read_text())
    third = project.curate(progress=False)
    assert third.analysed == 0
    assert third.count("blurry") > second.count("blurry")


def test_split_leaks_are_reported(make_project, shared_data, tmp_path):
    root = shared_data / "imagededup-tests" / "mixed_images"
    project = make_project(classes=("ukbench",))
    project.import_folder(root, label="ukbench", progress=False)
    project.curate(progress=False)
    group = project.dataset.exists("dup_group").values("id")
    splits = {
        sample_id: ("train" if n % 2 else "test") for n, sample_id in enumerate(project.dataset.values("id"))
    }
    project.dataset.set_values("split", splits, key_field="id")
    report = project.curate(progress=False)
    leaks = project.dataset.load_saved_view("leaky-splits")
    assert report.count("split leaks") == len(leaks) == len(group) >= 2
    assert set(leaks.values("id")) == set(project.dataset.match_tags(LEAK_TAG).values("id"))


def test_duplicate_groups_have_one_keeper_and_views_are_saved(make_project, shared_data):
    project = make_project(classes=("ukbench",))
    project.import_folder(shared_data / "imagededup-tests", label="ukbench", progress=False)
    report = project.curate(progress=False)
    dataset = project.dataset
    for group in report.groups:
        keepers = dataset.match({"dup_group": group.id, "dup_keeper": True})
        assert len(keepers) == 1
        keeper = keepers.first()
        sizes = [m.pixels for m in group.members]
        assert keeper.image_stats.width * keeper.image_stats.height == max(sizes)
        assert DUP_TAG not in keeper.tags
        assert len(dataset.match({"dup_group": group.id}).match_tags(DUP_TAG)) == len(group.members) - 1
        grey = dataset.match({"dup_group": group.id}).match_tags("issue:grayscale")
        assert "issue:grayscale" not in keeper.tags or len(grey) == len(group.members), (
            "a colour copy is kept"
        )
    saved = set(dataset.list_saved_views())
    assert {"duplicates", "label-conflicts", "issue-blurry", "issue-dark", "issue-odd-size"} <= saved

    from PIL import Image

    assert set(report.sheets) == {"duplicate groups", "quality issues"}
    with Image.open(report.sheets["duplicate groups"]) as sheet:
        assert sheet.format == "PNG" and sheet.height >= len(report.groups) * 150
        cells = np.asarray(sheet.convert("L"))
    assert cells.std() > 20, "thumbnails are drawn, not just a blank page"
    grouped = dataset.load_saved_view("duplicates")
    assert grouped._is_dynamic_groups and len(grouped) == len(report.groups)
    assert np.isfinite(dataset.values("blurry_score")).all()

    drawn = report.sheets["duplicate groups"].stat().st_mtime_ns
    assert project.curate(progress=False).sheets["duplicate groups"].stat().st_mtime_ns == drawn, (
        "a rerun that changed nothing redraws nothing"
    )

    for group in report.groups:  # a reviewer settles every group: the sheet goes, as the view empties
        project.keep_duplicate(group.keeper.id)
    settled = project.curate(progress=False)
    assert "duplicate groups" not in settled.sheets
    assert not (project.root / "reports" / "curate" / "duplicate-groups.png").exists()


def test_missing_media_is_reported_and_healed_by_reimport(make_project, flowers):
    project = make_project()
    project.import_folder(flowers / "daisy", label="daisy", progress=False)
    lost = project.dataset.first()
    Path(lost.filepath).unlink()
    report = project.curate(progress=False)
    assert report.unreadable == [lost.filepath] and report.count("unreadable") == 1
    assert project.dataset.load_saved_view("issue-unreadable").values("id") == [lost.id]
    project.import_folder(flowers / "daisy", label="daisy", progress=False)  # writes the file back
    healed = project.curate(progress=False)
    assert healed.unreadable == [] and healed.analysed == 1
    assert "issue:unreadable" not in project.dataset[lost.id].tags
    assert not project.dataset.has_saved_view("issue-unreadable")


def test_hashes_stay_close_to_imagehash(shared_data, capsys):
    """curata's hashes (one reduced decode, pre-reduced resizes) against imagehash's own, from
    the full pass and from the hashes-only pass; the mirror pHash against the mirrored photo's."""
    import imagehash
    from PIL import Image, ImageOps

    flowers = sorted((shared_data / "tf-flowers-subset" / "images").rglob("*.jpg"))[::6]
    photos = sorted((shared_data / "blur-triplets" / "images").iterdir())
    distances: dict[str, list[int]] = {}
    for path in flowers + photos:
        with Image.open(path) as image:
            upright = ImageOps.exif_transpose(image)
            reference = {
                "phash": imagehash.phash(upright),
                "dhash": imagehash.dhash(upright),
                "phash_mirror": imagehash.phash(ImageOps.mirror(upright)),
            }
        for quality in (True, False):
            ours = analyse(str(path), quality=quality)
            assert ours.has_quality is quality
            for kind, value in reference.items():
                key = f"{kind} ({'full pass' if quality else 'hashes only'})"
                distances.setdefault(key, []).append(imagehash.hex_to_hash(getattr(ours, kind)) - value)
    with capsys.disabled():
        for kind, values in distances.items():
            spread = np.bincount(values, minlength=4)[:4] / len(values)
            shares = ", ".join(f"{d}: {share:.0%}" for d, share in enumerate(spread))
            print(f"\n{kind} distance to imagehash over {len(values)} photos: {shares}, max {max(values)}")
    for kind, values in distances.items():
        assert np.mean(np.array(values) <= 2) >= 0.95, kind


def test_flat_and_tiny_images_hash_as_imagehash_does(tmp_path):
    import warnings

    import imagehash
    from PIL import Image

    images = {
        "grey.png": Image.new("RGB", (640, 480), (128, 128, 128)),
        "night.jpg": Image.new("RGB", (300, 200), (12, 14, 20)),
        "dot.png": Image.new("RGB", (1, 1), (200, 10, 10)),
        "line.png": Image.new("RGB", (1, 500), (10, 200, 10)),
        "black.gif": Image.new("P", (64, 64)),
    }
    for name, image in images.items():
        image.save(tmp_path / name)
        with Image.open(tmp_path / name) as saved:
            expected = str(imagehash.phash(saved))
        for quality in (True, False):
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # no overflow or invalid-value warnings either
                stats = analyse(str(tmp_path / name), quality=quality)
            assert stats.phash == expected, name
    polar = [analyse(str(tmp_path / name)).polar for name in images]
    assert rotated_pairs(polar, threshold=0.95)[0].size == 0

    # Flat images share imagehash's pHash but are not copies of each other unless their pixels are.
    images["grey-again.bmp"] = images["grey.png"]
    images["grey-again.bmp"].save(tmp_path / "grey-again.bmp")
    members = []
    for name in images:
        stats = analyse(str(tmp_path / name))
        with Image.open(tmp_path / name) as image:
            image.load()
            digest = pixel_digest(image)
        members.append(
            Member(
                id=name, sha256=name, phash=stats.phash, phash_mirror=stats.phash_mirror,
                pixel_sha256=digest, label="x", split=None, pixels=1, sharpness=0.0, polar=stats.polar,
            )
        )  # fmt: skip
    groups = find_groups(members, radius=6, rotated_similarity=0.95)
    assert [sorted(m.id for m in g.members) for g in groups] == [["grey-again.bmp", "grey.png"]]


def test_hashes_only_pass_groups_duplicates_then_full_pass_adds_quality(make_project, shared_data, tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(shared_data / "imagededup-tests" / "mixed_images", folder)
    for photo in sorted((shared_data / "low-light" / "images").iterdir())[:2]:
        shutil.copy(photo, folder / photo.name)
    project = make_project(classes=("ukbench",))
    project.import_folder(folder, label="ukbench", progress=False)
    quick = project.curate(progress=False, quality=False)
    dataset = project.dataset
    assert quick.analysed == len(dataset)
    assert not dataset.exists("image_stats.sharpness") and len(dataset.exists("phash")) == len(dataset)
    assert quick.groups and quick.count("duplicates") >= 2
    assert all(quick.count(issue) == 0 for issue in ("blurry", "dark", "grayscale"))
    assert dataset.info["curation"]["quality_checks"] is False

    full = project.curate(progress=False)
    assert full.analysed == len(dataset) and len(dataset.exists("image_stats.sharpness")) == len(dataset)
    assert full.count("dark") == 2
    tagged = {issue: full.count(issue) for issue in ("blurry", "dark", "grayscale")}
    assert {frozenset(m.id for m in g.members) for g in full.groups} == {
        frozenset(m.id for m in g.members) for g in quick.groups
    }

    again = project.curate(progress=False, quality=False)  # quality tags stay as the full pass left them
    assert again.analysed == 0
    assert {issue: again.count(issue) for issue in tagged} == tagged

    # A file lost after a hashes-only pass: the full pass reports it instead of scoring half a record.
    late = tmp_path / "late"
    late.mkdir()
    shutil.copy(sorted((shared_data / "low-light" / "images").iterdir())[2], late)
    project.import_folder(late, label="ukbench", progress=False)
    assert project.curate(progress=False, quality=False).analysed == 1
    lost = dataset.match({"image_stats.sharpness": None}).first()
    Path(lost.filepath).unlink()
    healed = project.curate(progress=False)
    assert healed.unreadable == [lost.filepath] and healed.count("unreadable") == 1
    assert dataset[lost.id].image_stats is None


def test_turned_copies_are_found_at_any_angle_and_nothing_else(shared_data, tmp_path):
    """Copies turned about their centre (and turned and mirrored) join their original; among 150
    distinct flower photos the polar correlation pairs only what the pHash already calls copies."""
    import imagehash
    from PIL import Image, ImageOps

    flowers = sorted((shared_data / "tf-flowers-subset" / "images").rglob("*.jpg"))[::4]
    with Image.open(flowers[0]) as image:
        original = image.convert("RGB")
    turned = []
    for angle, mirrored in ((7, False), (33, False), (90, False), (180, False), (15, True)):
        copy = (ImageOps.mirror(original) if mirrored else original).rotate(
            angle, resample=Image.Resampling.BICUBIC, expand=angle % 90 == 0
        )
        turned.append(tmp_path / f"turned-{angle}{'-mirrored' if mirrored else ''}.jpg")
        copy.save(turned[-1], quality=88)
    stats = [analyse(str(path)) for path in flowers + turned]
    i, j = rotated_pairs([s.polar for s in stats], threshold=0.95)
    pairs = set(zip(i.tolist(), j.tolist(), strict=True))

    first_copy = len(flowers)
    for copy in range(first_copy, len(stats)):
        assert (0, copy) in pairs, f"{turned[copy - first_copy].name} is not matched to its original"
    hashes = [imagehash.hex_to_hash(s.phash) for s in stats]
    among_flowers = {(a, b) for a, b in pairs if b < first_copy}
    assert all(hashes[a] - hashes[b] <= 6 for a, b in among_flowers), "an unrelated photo was matched"


def _die(path: str) -> None:
    """What a worker process does when a decoder crashes or it runs out of memory."""
    os._exit(1)


def test_files_that_fail_keep_their_place_and_a_dead_worker_is_one_clear_error(flowers, tmp_path):
    photos = [str(p) for p in sorted((flowers / "daisy").iterdir())]
    paths = photos * 4 + [str(tmp_path / "gone.jpg")] + photos * 4  # enough for worker processes
    results = map_files(analyse, paths, workers=2)
    middle = len(photos) * 4
    assert isinstance(results[middle], FileFailed) and "gone.jpg" in str(results[middle])
    assert [r.phash for r in results[:middle]] == [r.phash for r in results[middle + 1 :]]
    assert len(paths) >= PROCESS_POOL_MIN  # _die must run in a worker process, not a thread
    with pytest.raises(CurataError, match="worker process died .* rerun"):
        map_files(_die, paths, workers=2)
