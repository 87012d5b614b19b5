"""Model cards: parse_card's checks and bounds, the typed frozen card, its JSON round trip, the schema in step."""

from __future__ import annotations

import dataclasses
import json

import pytest

from condswin.bundles import (
    LITS_LABELS,
    BundleError,
    ModelCard,
    Normalization,
    card_template,
    embedded_models_dir,
    parse_card,
)
from condswin.bundles.card import AXES, MODALITIES, REQUIRED_FIELDS, TASKS
from condswin.bundles.contract import (
    DEFAULT_HU_WINDOW,
    DEFAULT_PERCENTILES,
    MAX_SLICE_SIDE,
    PIXEL_SIZE_RANGE_MM,
    RECONSTRUCTION_LOWER_PERCENTILE,
)
from condswin.bundles.parse import MAX_CLASSES, MAX_SCORE_OFFSET
from condswin.errors import ModelError


def _full_card(kind: str = "segmentation", **changes) -> dict:
    card = {
        **card_template("tiny-seg", kind, training_data="x", training_command="y"),
        "architecture": "unet",
        "config": {"chans": 4},
        "in_channels": 1,
        "out_channels": 3 if kind == "segmentation" else 1,
        "weights": "model.safetensors",
        "sha256": "0" * 64,
    }
    card.update(changes)
    return card


def _with_input(**changes) -> dict:
    card = _full_card()
    card["input"].update(changes)
    return card


@pytest.mark.parametrize(
    "change, where",
    [
        ({"task": "classification"}, "task"),
        ({"sha256": "ABC"}, "sha256"),
        ({"weights": "../elsewhere/model.safetensors"}, "weights"),
        ({"weights": "model.pt"}, "weights"),
        ({"id": "has space"}, "id"),
        ({"id": 7}, "id"),
        ({"in_channels": 0}, "in_channels"),
        ({"config": {"in_channels": 2}}, "config"),
        ({"name": 3}, "name"),
    ],
)
def test_parse_card_names_the_bad_field(change: dict, where: str) -> None:
    with pytest.raises(BundleError, match=rf"models\.json: models\[3\]: {where}"):
        parse_card(_full_card(**change), "models.json: models[3]")


def test_parse_card_checks_the_contract() -> None:
    bad_axis = _with_input(axis="oblique")
    with pytest.raises(BundleError, match="input.axis"):
        parse_card(bad_axis)
    with pytest.raises(BundleError, match="HU window"):
        parse_card(_with_input(modality="MR"))
    with pytest.raises(BundleError, match=r"output.labels\[1\].value"):
        parse_card(_full_card(out_channels=2))
    no_terminology = _full_card()
    del no_terminology["output"]["labels"][0]["terminology"]["type"]
    with pytest.raises(BundleError, match="terminology.type"):
        parse_card(no_terminology)
    with pytest.raises(BundleError, match="out_channels"):
        parse_card(_full_card("reconstruction", out_channels=2))


@pytest.mark.parametrize(
    "changes, where",
    [
        ({"size": [5000, 256]}, r"input\.size\[0\]: must be at most 4096"),
        ({"size": [256, 0]}, r"input\.size\[1\]"),
        ({"pixel_size_mm": [0.001, 1.0]}, r"input\.pixel_size_mm\[0\]: must be between 0\.01 and 100"),
        ({"pixel_size_mm": [1.0, 1e9]}, r"input\.pixel_size_mm\[1\]"),
        ({"pixel_size_mm": [1.0, float("nan")]}, r"input\.pixel_size_mm\[1\]: must be a finite number"),
        ({"normalization": {"kind": "hu_window", "low": -1e12, "high": 400}}, r"normalization\.low"),
        ({"normalization": {"kind": "hu_window", "low": 400, "high": 400}}, "must be greater"),
    ],
)
def test_absurd_contract_values_are_bounded(changes: dict, where: str) -> None:
    """Values that would allocate terabytes (or are typos) are model errors, exit code 4, not crashes."""
    with pytest.raises(BundleError, match=where) as caught:
        parse_card(_with_input(**changes), "card.json")
    assert isinstance(caught.value, ModelError)


def test_channels_must_fit_the_representation_and_a_uint8_labelmap() -> None:
    with pytest.raises(BundleError, match="in_channels"):
        parse_card(_full_card(in_channels=3))  # magnitude input is fed as one channel
    complex_input = _full_card("reconstruction", in_channels=1)
    complex_input["input"]["representation"] = "complex"
    with pytest.raises(BundleError, match="complex input is fed as 2 channel"):
        parse_card(complex_input)
    with pytest.raises(BundleError, match=f"out_channels: must be at most {MAX_CLASSES}"):
        parse_card(_full_card(out_channels=100_000))


def test_parse_card_does_not_modify_its_input() -> None:
    card = _full_card()
    snapshot = json.dumps(card, sort_keys=True)
    parse_card(card)
    assert json.dumps(card, sort_keys=True) == snapshot


def test_typed_card_is_frozen_and_round_trips_through_json() -> None:
    fields = _full_card(description="a test model")
    fields["training"]["epochs"] = 3  # unknown fields survive: in training ...
    fields["references"] = ["doi:10/xyz"]  # ... and at the top level
    card = parse_card(fields, "card.json")
    assert (card.id, card.task, card.architecture, card.in_channels, card.out_channels) == (
        "tiny-seg",
        "segmentation",
        "unet",
        1,
        3,
    )
    assert card.labels == LITS_LABELS and card.contract.is_lits
    assert card.labels[1].terminology.region.value == "10200004"
    assert card.training.details == {"epochs": 3} and card.title == "a test model"
    with pytest.raises(dataclasses.FrozenInstanceError):
        card.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        card.config["chans"] = 8  # type: ignore[index]
    again = parse_card(json.loads(json.dumps(card.to_dict())), "round trip")
    assert again == card
    assert card.to_dict()["references"] == ["doi:10/xyz"] and card.to_dict()["training"]["epochs"] == 3
    assert card.build_kwargs() == {"chans": 4} and isinstance(card.build_kwargs(), dict)


def test_defaults_come_from_one_place() -> None:
    """A card that omits the percentile fields gets the contract's defaults; templates start from them too."""
    minimal = _full_card("denoising")
    minimal["input"]["normalization"] = {"kind": "percentile"}
    norm = parse_card(minimal).contract.normalization
    assert (norm.lower, norm.upper, norm.scope, norm.clip) == (*DEFAULT_PERCENTILES, "volume", False)
    template = {task: card_template("x", task)["input"]["normalization"] for task in TASKS}
    assert template["segmentation"] == Normalization.hu_window(*DEFAULT_HU_WINDOW).to_dict()
    assert template["reconstruction"]["lower"] == RECONSTRUCTION_LOWER_PERCENTILE
    assert (template["denoising"]["lower"], template["denoising"]["upper"]) == DEFAULT_PERCENTILES
    assert "percentiles 0.5-99.5 per volume" == norm.describe()


def test_schema_file_and_parser_agree() -> None:
    """The JSON schema documents the same contract parse_card enforces (no schema library needed)."""
    schema = json.loads((embedded_models_dir() / "models.schema.json").read_text())
    defs = schema["$defs"]
    card_schema = defs["card"]
    assert tuple(card_schema["required"]) == REQUIRED_FIELDS
    assert tuple(card_schema["properties"]["task"]["enum"]) == TASKS
    assert tuple(card_schema["properties"]["input"]["properties"]["axis"]["enum"]) == AXES
    assert tuple(card_schema["properties"]["input"]["properties"]["modality"]["enum"]) == MODALITIES
    percentile = defs["normalization"]["oneOf"][1]["properties"]
    assert (percentile["lower"]["default"], percentile["upper"]["default"]) == DEFAULT_PERCENTILES
    assert defs["size"]["oneOf"][1]["items"]["maximum"] == MAX_SLICE_SIDE
    pixel = defs["pixel_size"]["oneOf"][1]["items"]
    assert (pixel["minimum"], pixel["maximum"]) == PIXEL_SIZE_RANGE_MM
    assert card_schema["properties"]["out_channels"]["maximum"] == MAX_CLASSES
    offsets = card_schema["properties"]["output"]["properties"]["score_offsets"]["items"]
    assert (offsets["minimum"], offsets["maximum"]) == (-MAX_SCORE_OFFSET, MAX_SCORE_OFFSET)
    for field in REQUIRED_FIELDS:  # every field the schema requires is required by the parser too
        card = _full_card()
        del card[field]
        with pytest.raises(BundleError, match=field):
            parse_card(card)


def test_save_bundle_accepts_a_typed_card(tmp_path, make_card) -> None:
    from condswin.bundles import read_bundle, save_bundle
    from condswin.models import build_model

    card = make_card("denoising")
    assert isinstance(card, ModelCard)
    save_bundle(build_model("unet", 1, 1, chans=4, num_pool_layers=2), card, tmp_path / "b")
    saved = read_bundle(tmp_path / "b").card
    assert saved.contract == card.contract and saved.config == {"chans": 4, "num_pool_layers": 2}


@pytest.mark.parametrize(
    "offsets,problem",
    [
        ([0.0, 2.0], "list of 3 numbers"),
        ([0.0, "2", 1.0], "finite number"),
        ([0, 0, float("nan")], "finite number"),
        ([0, 0, 25.0], "between -20 and 20"),
        ({"2": 2.0}, "list of 3 numbers"),
    ],
)
def test_score_offsets_are_one_finite_number_per_channel(make_card, offsets, problem) -> None:
    with pytest.raises(BundleError, match=rf"output\.score_offsets.*{problem}"):
        make_card(output=dict(score_offsets=offsets))


def test_score_offsets_round_trip_and_are_left_out_when_absent(make_card) -> None:
    card = make_card(output=dict(score_offsets=[0, -0.5, 2]))
    assert card.contract.score_offsets == (0.0, -0.5, 2.0)
    assert card.contract.output_dict()["score_offsets"] == [0.0, -0.5, 2.0]
    assert "score_offsets" not in make_card().contract.output_dict()
    liver_only = card.contract.output_dict()["labels"][:1]
    with pytest.raises(BundleError, match="multi-class"):
        make_card(out_channels=1, output=dict(labels=liver_only, score_offsets=[1.0]))
