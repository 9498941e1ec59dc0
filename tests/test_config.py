"""curata.toml: the template loads, and every mistake names its key and line."""

from __future__ import annotations

import pytest

import curata
from curata.config import load_config, parse_config
from curata.errors import CurataError
from curata.project_template import render_config

GOOD = """\
[dataset]
name = "ornaments"

[[classes]]
name = "koshkar-muiz"
queries = ["koshkar muiz ornament"]
description = "Ram's horn motif."

[[classes]]
name = "tumar"
queries = ["tumar amulet"]

[scrape]
engines = ["bing"]
max_per_class = 50
"""


def error_of(text: str) -> str:
    with pytest.raises(CurataError) as caught:
        parse_config(text)
    return str(caught.value)


def test_template_is_valid_and_documents_every_key():
    config = parse_config(render_config("flowers", ["daisy", "kazakh ornament", 'quote"d']))
    assert config.dataset.name == "flowers"
    assert config.class_names == ["daisy", "kazakh ornament", 'quote"d']
    assert config.class_spec("kazakh ornament").queries == ["kazakh ornament"]
    assert config.embeddings.backend == "open_clip"
    assert config.import_.max_pixels == 100_000_000
    text = render_config("flowers", ["daisy"])
    for key in ("engines", "max_per_class", "backend", "pretrained", "target", "max_pixels", "description"):
        line = next(i for i, line in enumerate(text.splitlines()) if line.startswith(f"{key} ="))
        assert text.splitlines()[line - 1].startswith("#"), f"{key} has no comment above it"


def test_good_config_loads():
    config = parse_config(GOOD)
    assert config.class_names == ["koshkar-muiz", "tumar"]
    assert config.scrape.engines == ["bing"]
    assert config.class_spec("tumar").description == ""


def test_unknown_key_names_key_line_and_suggestion():
    message = error_of(GOOD.replace("engines = [", "engine = ["))
    assert "line 14" in message
    assert "scrape.engine" in message
    assert "did you mean 'engines'" in message


def test_unknown_key_inside_second_class():
    message = error_of(GOOD.replace('queries = ["tumar amulet"]', 'querys = ["tumar amulet"]'))
    assert "line 11" in message and "classes[1].querys" in message


def test_wrong_type_names_key_and_line():
    message = error_of(GOOD.replace("max_per_class = 50", 'max_per_class = "many"'))
    assert "line 15" in message and "scrape.max_per_class" in message and "'many'" in message


def test_unknown_engine_is_rejected():
    message = error_of(GOOD.replace('engines = ["bing"]', 'engines = ["bing", "altavista"]'))
    assert "line 14" in message and "scrape.engines[1]" in message


def test_missing_classes():
    message = error_of('[dataset]\nname = "x"\n')
    assert "classes" in message and "required" in message


def test_empty_classes_list():
    message = error_of('classes = []\n[dataset]\nname = "x"\n')
    assert "line 1" in message and "classes" in message


def test_class_without_name_points_at_its_block():
    message = error_of(GOOD.replace('name = "tumar"\n', ""))
    assert "line 9" in message and "classes[1].name" in message and "required" in message


def test_duplicate_class():
    message = error_of(GOOD.replace('name = "tumar"', 'name = "koshkar-muiz"'))
    assert "defined twice" in message


def test_bad_dataset_name():
    message = error_of(GOOD.replace('name = "ornaments"', 'name = "my dataset!"'))
    assert "line 2" in message and "dataset.name" in message


def test_multiline_description_does_not_confuse_line_numbers():
    text = GOOD.replace('description = "Ram\'s horn motif."', 'description = """\nname = fake\n[scrape]\n"""')
    message = error_of(text.replace("max_per_class = 50", "max_per_class = -1"))
    assert "line 18" in message and "scrape.max_per_class" in message


def test_invalid_toml_reports_line():
    message = error_of(GOOD.replace('name = "tumar"', "name = tumar"))
    assert "not valid TOML" in message and "line 10" in message


def test_load_missing_file_says_how_to_create(tmp_path):
    with pytest.raises(CurataError, match="curata init"):
        load_config(tmp_path)


def test_init_writes_loadable_config_and_refuses_to_overwrite(tmp_path):
    folder = tmp_path / "source"
    for name in ("tulips", "roses", ".hidden"):
        (folder / name).mkdir(parents=True)
    project = curata.init(tmp_path / "proj", classes_from=folder, classes=["daisy"])
    assert project.config.class_names == ["daisy", "roses", "tulips"]
    assert project.config.dataset.name == "proj"
    assert (tmp_path / "proj" / ".gitignore").read_text().splitlines() == [".curata/", "media/"]
    with pytest.raises(CurataError, match="already exists"):
        curata.init(tmp_path / "proj")
