"""curata's FiftyOne plugin: found by FiftyOne beside the user's plugins, and its operators run
through FiftyOne's own operator execution path against the real database."""

from __future__ import annotations

import fiftyone as fo
import fiftyone.operators as foo
import fiftyone.plugins as fop
import pytest

from curata.review import plugin_install
from curata.store import EXCLUDED_TAG, REVIEWED_TAG


@pytest.fixture
def plugin(make_project, tmp_path, monkeypatch):
    """A project with curata's plugin installed, the user having a plugin of their own."""
    mine = tmp_path / "my-plugins" / "my-plugin"
    mine.mkdir(parents=True)
    (mine / "fiftyone.yml").write_text('name: "@me/my-plugin"\noperators: []\n')
    (mine / "__init__.py").write_text("def register(plugin):\n    pass\n")
    monkeypatch.setattr(fo.config, "plugins_dir", str(tmp_path / "my-plugins"))
    monkeypatch.setenv("FIFTYONE_PLUGINS_DIR", str(tmp_path / "my-plugins"))
    monkeypatch.setattr(plugin_install, "_user_plugins_dir", None)
    project = make_project()
    folder = plugin_install.install_plugin(project.root)
    return project, folder


def run(operator: str, view, **ctx):
    result = foo.execute_operator(f"@curata/review/{operator}", ctx={"view": view, **ctx})
    assert result.error is None, result.error
    return result.result


def test_fiftyone_finds_curatas_plugin_and_keeps_the_users_own(plugin):
    project, folder = plugin
    assert folder == project.root / ".curata" / "plugins"
    names = {p.name for p in fop.list_plugins()}
    assert {"@curata/review", "@me/my-plugin"} <= names
    operators = {o.uri for o in foo.list_operators() if o.uri.startswith("@curata/review/")}
    assert operators == {
        f"@curata/review/{name}"
        for name in (
            "relabel",
            "accept_suggestions",
            "keep_duplicate",
            "exclude",
            "restore",
            "mark_reviewed",
            "undo_last",
        )
    }
    again = plugin_install.install_plugin(project.root)  # idempotent: links rebuilt, nothing doubled
    assert sorted(p.name for p in again.iterdir()) == ["curata-review", "my-plugin"]


def test_operators_change_the_selection_or_the_view_and_log_it(plugin, flowers):
    project, _ = plugin
    project.import_folder(flowers, progress=False)
    dataset = project.dataset
    daisies = dataset.match({"ground_truth.label": "daisy"})
    chosen = daisies.values("id")[:2]

    relabelled = run("relabel", dataset.view(), selected=chosen, params={"label": "roses", "note": "pink"})
    assert relabelled["message"] == "relabelled 2 samples: daisy → roses (2)"
    assert dataset.select(chosen).values("ground_truth.label") == ["roses", "roses"]

    # nothing selected: the operator takes the current view (here, the remaining daisies)
    excluded = run("exclude", dataset.match({"ground_truth.label": "daisy"}))
    assert excluded["message"] == "excluded 6 samples"
    assert len(dataset.match_tags(EXCLUDED_TAG)) == 6

    restored = run("restore", dataset.match_tags(EXCLUDED_TAG), selected=daisies.values("id")[2:4])
    assert restored["message"] == "restored 2 samples"

    reviewed = run("mark_reviewed", dataset.view(), selected=daisies.values("id")[2:4])
    assert reviewed["message"] == "marked 2 samples reviewed"
    assert all(REVIEWED_TAG in t for t in dataset.select(daisies.values("id")[2:4]).values("tags"))

    undone = run("undo_last", dataset.view())
    assert undone["message"].startswith("undid mark-reviewed")

    log = project.history()
    assert {c.via for c in log} == {"app"}
    assert [c.how for c in log if c.what == "label"] == ["relabel", "relabel"]
    assert {c.note for c in log if c.how == "relabel"} == {"pink"}


def test_accept_suggestions_and_keep_duplicate_operators(plugin, flowers):
    from PIL import Image

    photo = sorted((flowers / "tulips").glob("*.jpg"))[0]
    with Image.open(photo) as image:
        image.resize((image.width // 2, image.height // 2)).save(flowers / "tulips" / "small-copy.jpg")
    project, _ = plugin
    project.import_folder(flowers, progress=False)
    project.curate(progress=False)
    dataset = project.dataset

    group = dataset.exists("dup_group")
    small = group.match({"source.original_path": "tulips/small-copy.jpg"}).first()
    kept = run("keep_duplicate", dataset.load_saved_view("duplicates"), current_sample=small.id)
    assert kept["message"] == f"kept 1 of the 2 copies in group {small.dup_group} and excluded 1 sample"
    assert group.match_tags(EXCLUDED_TAG).values("id") != [small.id]
    assert len(group.match_tags(EXCLUDED_TAG)) == 1

    project.store.ensure_fields({"suggested_label": fo.StringField})
    roses = dataset.match({"ground_truth.label": "roses"}).values("id")[:3]
    dataset.set_values("suggested_label", dict.fromkeys(roses, "tulips"), key_field="id")
    suspects = dataset.select(roses)
    accepted = run("accept_suggestions", suspects)
    assert accepted["message"] == "accepted the suggested label for 3 samples: roses → tulips (3)"
    assert dataset.select(roses).values("ground_truth.label") == ["tulips"] * 3
