"""The default model of a task: ``"default": true`` in a registry, embed_bundle(default=...), the search order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from condswin.bundles import BundleError, discover_bundles, embed_bundle
from condswin.bundles import registry as registry_module
from condswin.bundles.registry import BundleNotFoundError, default_bundle, is_default


@pytest.fixture
def empty_embedded(tmp_path, monkeypatch) -> Path:
    """An empty embedded registry and no CONDSWIN_MODEL_PATH: what the tests add is all there is."""
    folder = tmp_path / "embedded"
    folder.mkdir()
    monkeypatch.setattr(registry_module, "embedded_models_dir", lambda: folder)
    monkeypatch.delenv(registry_module.MODEL_PATH_ENV, raising=False)
    return folder


@pytest.fixture
def bundles(tmp_path, make_bundle) -> dict[str, Path]:
    """Two segmentation bundles and one denoising bundle with distinct ids."""
    return {
        "seg-a": make_bundle(tmp_path / "src" / "seg-a", "segmentation", "seg-a"),
        "seg-b": make_bundle(tmp_path / "src" / "seg-b", "segmentation", "seg-b"),
        "den-a": make_bundle(tmp_path / "src" / "den-a", "denoising", "den-a"),
    }


def _marks(registry: Path) -> dict[str, bool]:
    entries = json.loads((registry / "models.json").read_text())["models"]
    return {entry["id"]: entry.get("default", False) for entry in entries}


def test_no_model_of_the_task_is_a_clear_error(empty_embedded):
    with pytest.raises(BundleNotFoundError, match="no segmentation model is available.*CONDSWIN_MODEL_PATH"):
        default_bundle("segmentation")


def test_first_model_of_the_task_without_a_mark(empty_embedded, bundles):
    embed_bundle(bundles["den-a"], empty_embedded)
    embed_bundle(bundles["seg-a"], empty_embedded)
    embed_bundle(bundles["seg-b"], empty_embedded)
    assert default_bundle("segmentation").id == "seg-a"
    assert default_bundle("denoising").id == "den-a"


def test_marked_entry_wins_and_marking_unmarks_the_others_of_its_task(empty_embedded, bundles):
    embed_bundle(bundles["seg-a"], empty_embedded, default=True)
    embed_bundle(bundles["den-a"], empty_embedded, default=True)
    assert default_bundle("segmentation").id == "seg-a"
    embed_bundle(bundles["seg-b"], empty_embedded, default=True)
    assert _marks(empty_embedded) == {"seg-a": False, "den-a": True, "seg-b": True}
    chosen = default_bundle("segmentation")
    assert chosen.id == "seg-b" and is_default(chosen)
    assert default_bundle("denoising").id == "den-a"  # another task's mark is left alone


def test_overwrite_keeps_the_mark_unless_told(empty_embedded, bundles):
    embed_bundle(bundles["seg-a"], empty_embedded, default=True)
    embed_bundle(bundles["seg-a"], empty_embedded, overwrite=True)  # retrained, re-embedded: still the default
    assert _marks(empty_embedded) == {"seg-a": True}
    embed_bundle(bundles["seg-a"], empty_embedded, overwrite=True, default=False)
    assert _marks(empty_embedded) == {"seg-a": False}


def test_a_mark_in_the_source_card_is_not_copied(empty_embedded, bundles, tmp_path):
    card_path = bundles["seg-b"] / "model_card.json"
    card = json.loads(card_path.read_text())
    card["default"] = True
    card_path.write_text(json.dumps(card))
    embed_bundle(bundles["seg-a"], empty_embedded, default=True)
    embed_bundle(bundles["seg-b"], empty_embedded)  # only the registry's owner decides the default
    assert _marks(empty_embedded) == {"seg-a": True, "seg-b": False}
    assert default_bundle("segmentation").id == "seg-a"


def test_a_user_folder_stands_in_for_the_embedded_default(empty_embedded, bundles, monkeypatch):
    embed_bundle(bundles["seg-a"], empty_embedded, default=True)
    monkeypatch.setenv(registry_module.MODEL_PATH_ENV, str(bundles["seg-b"]))
    assert default_bundle("segmentation").id == "seg-b"


def test_a_non_boolean_mark_skips_the_entry_and_says_why(empty_embedded, bundles):
    embed_bundle(bundles["seg-a"], empty_embedded)
    embed_bundle(bundles["seg-b"], empty_embedded)
    data = json.loads((empty_embedded / "models.json").read_text())
    data["models"][1]["default"] = "yes"
    (empty_embedded / "models.json").write_text(json.dumps(data))
    found, problems = discover_bundles()
    assert [b.id for b in found] == ["seg-a"]
    assert any("models[1].default: must be true or false" in p for p in problems)
    with pytest.raises(BundleError, match="default: must be true or false"):
        registry_module.read_registry(empty_embedded / "models.json")


def test_the_command_line_uses_the_marked_default(empty_embedded, bundles):
    from condswin.cli.common import load_model
    from condswin.cli.progress import Reporter

    embed_bundle(bundles["seg-a"], empty_embedded)
    embed_bundle(bundles["seg-b"], empty_embedded, default=True)
    assert load_model(None, "segmentation", Reporter("none")).card.id == "seg-b"  # no --model


def test_schema_documents_the_default_field():
    schema = json.loads((Path(registry_module.__file__).parents[2] / "Resources/Models/models.schema.json").read_text())
    assert schema["$defs"]["card"]["properties"]["default"]["type"] == "boolean"
