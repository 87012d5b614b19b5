"""Model bundles: card validation, save/load round trip, sha256 refusal, registry search and embedding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from condswin.bundles import (
    CARD_FILENAME,
    MODEL_PATH_ENV,
    BundleChecksumError,
    BundleError,
    BundleNotFoundError,
    card_template,
    discover_bundles,
    embed_bundle,
    embedded_models_dir,
    load_bundle,
    read_bundle,
    read_registry,
    resolve_bundle,
    save_bundle,
    sha256_file,
    validate_card,
)
from condswin.bundles.card import AXES, MODALITIES, REQUIRED_FIELDS, TASKS
from condswin.models import build_model


def _card(card_id: str = "tiny-seg", task: str = "segmentation") -> dict:
    return card_template(card_id, task, training_data="none: freshly initialised test model", training_command="pytest")


def _full_card(**changes) -> dict:
    card = {
        **_card(),
        "architecture": "unet",
        "config": {"chans": 4},
        "in_channels": 1,
        "out_channels": 3,
        "weights": "model.safetensors",
        "sha256": "0" * 64,
    }
    card.update(changes)
    return card


@pytest.fixture()
def seg_bundle(tmp_path: Path) -> Path:
    model = build_model("unet", 1, 3, chans=4, num_pool_layers=2)
    save_bundle(model, _card(), tmp_path / "seg")
    return tmp_path / "seg"


def test_round_trip_restores_identical_network(tmp_path: Path) -> None:
    model = build_model("swin_unet_1l", 1, 3, embed_dim=16, num_heads=(2, 4), mlp_hidden=32).eval()
    card_path = save_bundle(model, _card(), tmp_path / "b")
    card = json.loads(card_path.read_text())
    # Only the overrides are stored, so the card stays readable and build_model reproduces the network.
    assert card["config"] == {"embed_dim": 16, "num_heads": [2, 4], "mlp_hidden": 32}
    assert card["architecture"] == "swin_unet_1l" and (card["in_channels"], card["out_channels"]) == (1, 3)
    assert card["sha256"] == sha256_file(tmp_path / "b" / card["weights"])
    loaded = load_bundle(read_bundle(tmp_path / "b"))
    assert not loaded.model.training
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():  # not inference_mode: it would leave inference tensors in the Swin layout cache
        assert torch.equal(model(x), loaded.model(x))


def test_tampered_weights_are_refused_naming_the_file(seg_bundle: Path) -> None:
    weights = seg_bundle / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in a tensor: still a valid safetensors file, but not the card's
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleChecksumError, match=str(weights).replace("\\", "\\\\")):
        load_bundle(read_bundle(seg_bundle))


def test_missing_weights_and_mismatched_architecture(seg_bundle: Path) -> None:
    card = json.loads((seg_bundle / CARD_FILENAME).read_text())
    card["config"] = {"chans": 8}  # weights were saved for chans=4 (num_pool_layers=2)
    (seg_bundle / CARD_FILENAME).write_text(json.dumps(card))
    with pytest.raises(BundleError, match="do not fit"):
        load_bundle(read_bundle(seg_bundle))
    (seg_bundle / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="not found"):
        load_bundle(read_bundle(seg_bundle))


def test_save_refuses_existing_folder_and_inconsistent_card(seg_bundle: Path, tmp_path: Path) -> None:
    model = build_model("unet", 1, 3, chans=4, num_pool_layers=2)
    before = (seg_bundle / CARD_FILENAME).read_bytes()
    with pytest.raises(BundleError, match="already exists"):
        save_bundle(model, _card(), seg_bundle)
    assert (seg_bundle / CARD_FILENAME).read_bytes() == before
    with pytest.raises(BundleError, match="out_channels"):
        save_bundle(model, {**_card(), "out_channels": 2}, tmp_path / "other")
    with pytest.raises(BundleError, match="training.data"):
        save_bundle(model, card_template("x", "segmentation"), tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["seg"]  # no temporary folder left behind


@pytest.mark.parametrize(
    "change, where",
    [
        ({"task": "classification"}, "task"),
        ({"sha256": "ABC"}, "sha256"),
        ({"weights": "../elsewhere/model.safetensors"}, "weights"),
        ({"weights": "model.pt"}, "weights"),
        ({"id": "has space"}, "id"),
        ({"in_channels": 0}, "in_channels"),
        ({"config": {"in_channels": 2}}, "config"),
    ],
)
def test_validate_card_names_the_bad_field(change: dict, where: str) -> None:
    with pytest.raises(BundleError, match=rf"models\.json: models\[3\]: {where}"):
        validate_card(_full_card(**change), "models.json: models[3]")


def test_validate_card_checks_the_contract() -> None:
    bad_axis = _full_card()
    bad_axis["input"]["axis"] = "oblique"
    with pytest.raises(BundleError, match="input.axis"):
        validate_card(bad_axis)
    mr_window = _full_card()
    mr_window["input"]["modality"] = "MR"
    with pytest.raises(BundleError, match="HU window"):
        validate_card(mr_window)
    label_out_of_range = _full_card(out_channels=2)
    with pytest.raises(BundleError, match=r"output.labels\[1\].value"):
        validate_card(label_out_of_range)
    no_terminology = _full_card()
    del no_terminology["output"]["labels"][0]["terminology"]["type"]
    with pytest.raises(BundleError, match="terminology.type"):
        validate_card(no_terminology)
    recon = {
        **_full_card(),
        **card_template("r", "reconstruction", training_data="x", training_command="y"),
        "out_channels": 2,
    }
    with pytest.raises(BundleError, match="out_channels"):
        validate_card(recon)


def test_validate_card_does_not_modify_its_input() -> None:
    card = _full_card()
    snapshot = json.dumps(card, sort_keys=True)
    validate_card(card)
    assert json.dumps(card, sort_keys=True) == snapshot


def test_schema_file_and_validator_agree() -> None:
    """The JSON schema documents the same contract validate_card enforces (no schema library needed)."""
    schema = json.loads((embedded_models_dir() / "models.schema.json").read_text())
    card_schema = schema["$defs"]["card"]
    assert tuple(card_schema["required"]) == REQUIRED_FIELDS
    assert tuple(card_schema["properties"]["task"]["enum"]) == TASKS
    assert tuple(card_schema["properties"]["input"]["properties"]["axis"]["enum"]) == AXES
    assert tuple(card_schema["properties"]["input"]["properties"]["modality"]["enum"]) == MODALITIES
    for field in REQUIRED_FIELDS:  # every field the schema requires is required by the validator too
        card = _full_card()
        del card[field]
        with pytest.raises(BundleError, match=field):
            validate_card(card)


def test_embedded_registry_is_valid_and_every_weight_matches() -> None:
    registry = embedded_models_dir() / "models.json"
    data = json.loads(registry.read_text())
    bundles = read_registry(registry)
    assert len(bundles) == len(data["models"])
    for entry in data["models"]:  # exactly what the before-stop hook reads
        assert sha256_file(embedded_models_dir() / entry["weights"]) == entry["sha256"]
    total = sum(p.stat().st_size for p in embedded_models_dir().rglob("*") if p.is_file())
    assert total < 60 * 2**20


def test_resolve_by_id_from_the_environment_and_shadowing(
    seg_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "more"
    save_bundle(build_model("unet", 1, 3, chans=4, num_pool_layers=2), {**_card(), "version": "2"}, other / "seg-again")
    monkeypatch.setenv(MODEL_PATH_ENV, f"{seg_bundle}{__import__('os').pathsep}{other}")
    bundles, problems = discover_bundles()
    assert [b.source for b in bundles if b.id == "tiny-seg"] == [seg_bundle / CARD_FILENAME]
    assert any("shadowed" in p for p in problems)
    assert resolve_bundle("tiny-seg", task="segmentation").root == seg_bundle
    with pytest.raises(BundleError, match="not a denoising model"):
        resolve_bundle("tiny-seg", task="denoising")
    with pytest.raises(BundleNotFoundError, match="available segmentation models: tiny-seg"):
        resolve_bundle("no-such-model", task="segmentation")
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path / "missing"))
    with pytest.raises(BundleNotFoundError, match="no denoising model is installed"):
        resolve_bundle("no-such-model", task="denoising")


def test_resolve_by_path_accepts_folder_and_card_file(seg_bundle: Path) -> None:
    assert resolve_bundle(seg_bundle).id == "tiny-seg"
    assert resolve_bundle(seg_bundle / CARD_FILENAME).id == "tiny-seg"
    with pytest.raises(BundleNotFoundError, match="no such model bundle"):
        resolve_bundle(seg_bundle / "nothing-here")


def test_embed_bundle_copies_weights_and_registers(seg_bundle: Path, tmp_path: Path) -> None:
    registry_dir = tmp_path / "Models"
    bundle = embed_bundle(seg_bundle, registry_dir)
    data = json.loads((registry_dir / "models.json").read_text())
    assert [e["id"] for e in data["models"]] == ["tiny-seg"]
    assert data["models"][0]["weights"] == "tiny-seg/model.safetensors"
    loaded = load_bundle(bundle)  # checksum verified against the copied file
    assert loaded.card["id"] == "tiny-seg"
    with pytest.raises(BundleError, match="already registered"):
        embed_bundle(seg_bundle, registry_dir)
    embed_bundle(seg_bundle, registry_dir, overwrite=True)
    assert len(read_registry(registry_dir / "models.json")) == 1
