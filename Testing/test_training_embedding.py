"""Embedding a trained bundle: held-out measurements on the card, precision chosen by measurement, registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import SimpleITK as sitk
import torch
from model_support import randomise_zero_head

from condswin.bundles import card_template, read_registry, save_bundle
from condswin.errors import UsageError
from condswin.inference import device as inference_device
from condswin.models import build_model
from condswin.training.embedding import EmbedRequest, HeldOut, embed_trained_bundle


@pytest.fixture()
def held_out(tmp_path: Path, mr_volume) -> HeldOut:
    folder = tmp_path / "mr"
    folder.mkdir()
    image = sitk.GetImageFromArray(mr_volume(slices=2, size=32))
    image.SetSpacing((0.8, 0.9, 3.0))
    sitk.WriteImage(image, str(folder / "case.nii.gz"))
    return HeldOut(folder, "mr_volumes", "one synthetic MR volume")


def _embed(tiny_bundles, tmp_path: Path, held_out: HeldOut, **changes) -> dict:
    # reconstruction: its baseline (zero-filled) costs nothing, unlike denoising's BM3D
    bundle = Path(shutil.copytree(tiny_bundles["reconstruction"], tmp_path / "bundle"))
    request = EmbedRequest(
        bundle=bundle,
        held_out=(held_out,),
        limits="a tiny untrained test model",
        accelerations=(4.0,),
        models_dir=tmp_path / "registry",
        work=tmp_path,
        shared=tmp_path / "no-shared-data",  # the MR regression sample is absent: nothing recorded, said so
        **changes,
    )
    folder = embed_trained_bundle(request, log=lambda line: None).registry
    [entry] = read_registry(folder / "models.json")
    return json.loads((folder / "models.json").read_text())["models"][0] | {"_bundle": entry}


def test_card_holds_per_volume_held_out_metrics_baseline_gain_and_limits(tiny_bundles, tmp_path, held_out) -> None:
    card = _embed(tiny_bundles, tmp_path, held_out, default=True, default_reason="the only one")
    [record] = card["metrics"]["held_out"]
    assert record["data"] == "one synthetic MR volume"
    methods = {row["method"] for row in record["per_volume"]}
    assert {"tiny-reconstruction", "zero-filled"} <= methods  # the model beside its baseline, same mask
    model_row = next(r for r in record["per_volume"] if r["method"] == "tiny-reconstruction")
    base_row = next(r for r in record["per_volume"] if r["method"] == "zero-filled")
    gain = record["psnr_gain_over_zero-filled_db"][model_row["setting"]]["case"]
    assert gain == pytest.approx(model_row["metrics"]["psnr"] - base_row["metrics"]["psnr"])
    assert card["limits"] == "a tiny untrained test model" and card["default_reason"] == "the only one"
    assert card["default"] is True
    assert "regression" not in card["metrics"]
    assert not (tmp_path / "bundle" / "model_card.json").read_text().count("held_out")  # the source is untouched


def test_fp16_weights_are_kept_only_within_the_tolerance(tiny_bundles, tmp_path, held_out) -> None:
    loose = _embed(tiny_bundles, tmp_path / "a", held_out, fp16=True, tolerance=1.0)
    assert loose["weights_dtype"] == "float16" and loose["metrics"]["precision"]["fp16_weights_kept"] is True
    strict = _embed(tiny_bundles, tmp_path / "b", held_out, fp16=True, tolerance=0.0)
    change = strict["metrics"]["precision"]["fp16_weights_largest_change"]
    assert change > 0  # fp16 rounding moves the SSIM a little ...
    assert (
        "weights_dtype" not in strict and strict["metrics"]["precision"]["fp16_weights_kept"] is False
    )  # ... too much


def test_cpu_bf16_is_allowed_only_within_the_tolerance(tiny_bundles, tmp_path, held_out, monkeypatch) -> None:
    # bf16 inference is measured only on CPUs with native bf16; claim one so the decision is tested on any CPU
    # (autocast emulates bf16 where the instructions are missing: slower, the same rounding)
    monkeypatch.setattr(inference_device, "cpu_has_native_bf16", lambda: True)
    strict = _embed(tiny_bundles, tmp_path / "b", held_out, tolerance=0.0)
    precision = strict["metrics"]["precision"]
    assert precision["cpu_bf16_largest_change"] > 0  # bf16 rounding moves the SSIM a little ...
    assert precision["cpu_bf16_allowed"] is False and "inference" not in strict  # ... too much for tolerance 0
    loose = _embed(tiny_bundles, tmp_path / "a", held_out, tolerance=1.0)
    assert loose["metrics"]["precision"]["cpu_bf16_allowed"] is True
    assert loose["inference"] == {"cpu_bf16": True}


def test_requests_without_data_or_with_a_negative_tolerance_are_refused(tiny_bundles, tmp_path, held_out) -> None:
    with pytest.raises(UsageError, match="held-out"):
        embed_trained_bundle(EmbedRequest(bundle=tiny_bundles["denoising"], held_out=(), limits="x"))
    with pytest.raises(UsageError, match=">= 0"):
        embed_trained_bundle(
            EmbedRequest(bundle=tiny_bundles["denoising"], held_out=(held_out,), limits="x", tolerance=-1.0)
        )


# --- replacing a default only when measured better ---------------------------------------------------------------


def _dc_bundle(folder: Path, model_id: str, *, trained_looking: bool) -> Path:
    """A tiny data-consistency reconstruction bundle: with its zero head it is exactly zero-filled; with a
    random head its correction only adds error (the worse model)."""
    torch.manual_seed(0)
    model = build_model("recon_dc", 2, 1, inner="unet", inner_config={"chans": 4, "num_pool_layers": 2}).eval()
    if trained_looking:
        randomise_zero_head(model)
    card = card_template(model_id, "reconstruction", training_data="none: test model", training_command="pytest")
    card["input"]["representation"] = "complex"
    save_bundle(model, card, folder)
    return folder


def _decide(tmp_path: Path, held_out: HeldOut, candidate: Path, **changes):
    request = EmbedRequest(
        bundle=candidate,
        held_out=(held_out,),
        limits="test",
        default=True,
        accelerations=(4.0,),
        models_dir=tmp_path / "registry",
        work=tmp_path,
        shared=tmp_path / "no-shared-data",
        **changes,
    )
    return embed_trained_bundle(request, log=lambda line: None)


def test_a_worse_bundle_leaves_the_default_and_a_better_one_replaces_it(tmp_path, held_out) -> None:
    registry = tmp_path / "registry" / "models.json"
    good = _dc_bundle(tmp_path / "good", "recon-dc", trained_looking=False)
    bad = _dc_bundle(tmp_path / "bad", "recon-dc", trained_looking=True)
    first = _decide(tmp_path, held_out, bad)  # no default yet: it becomes one
    assert first.registry is not None and first.decision["current_default"] is None
    before = registry.read_bytes()

    worse = _decide(tmp_path, held_out, _dc_bundle(tmp_path / "worse", "recon-dc-2", trained_looking=True))
    assert worse.registry is None and worse.decision["replaces"] is False
    assert registry.read_bytes() == before  # nothing registered, nothing changed

    better = _decide(tmp_path, held_out, good)
    assert better.registry is not None and better.decision["replaces"] is True
    [entry] = json.loads(registry.read_text())["models"]
    decision = entry["metrics"]["default_decision"]
    assert entry["default"] is True and entry["sha256"] != json.loads(before)["models"][0]["sha256"]
    assert decision["current_default"]["id"] == "recon-dc"
    assert decision["candidate"] > decision["current_default"]["score"]
    assert decision["data"] == ["one synthetic MR volume"]


def test_force_replaces_the_default_with_its_reason_on_the_card(tmp_path, held_out) -> None:
    _decide(tmp_path, held_out, _dc_bundle(tmp_path / "good", "recon-dc", trained_looking=False))
    bad = _dc_bundle(tmp_path / "bad", "recon-dc-bad", trained_looking=True)
    outcome = _decide(tmp_path, held_out, bad, force_reason="a user wants it")
    assert outcome.registry is not None
    entries = {e["id"]: e for e in json.loads((tmp_path / "registry" / "models.json").read_text())["models"]}
    assert entries["recon-dc-bad"]["default"] is True and "default" not in entries["recon-dc"]
    reason = entries["recon-dc-bad"]["metrics"]["default_decision"]["reason"]
    assert reason.startswith("forced") and "a user wants it" in reason


def test_rerecording_the_regression_sample_rewrites_only_that_models_record(tmp_path, monkeypatch) -> None:
    from condswin.bundles.registry import embedded_models_dir
    from condswin.training import regression
    from condswin.training.embedding import rerecord_regression_sample

    registry = Path(shutil.copytree(embedded_models_dir(), tmp_path / "models"))
    before = json.loads((registry / "models.json").read_text())
    monkeypatch.setattr(
        regression, "regression_metrics", lambda loaded, shared: {"liver_dice": 0.5, "tumour_dice": 0.25}
    )

    assert rerecord_regression_sample("liver-ct-cswin-light-1l", tmp_path, registry, log=lambda _: None) == {
        "liver_dice": 0.5,
        "tumour_dice": 0.25,
    }
    after = {b.id: b for b in read_registry(registry / "models.json")}
    assert after["liver-ct-cswin-light-1l"].card.metrics["regression"]["values"] == {
        "liver_dice": 0.5,
        "tumour_dice": 0.25,
    }
    for entry in before["models"]:  # every other model's record is untouched
        if entry["id"] != "liver-ct-cswin-light-1l":
            assert after[entry["id"]].card.metrics.get("regression") == entry["metrics"].get("regression")


def test_rerecording_an_unknown_model_leaves_the_registry_as_it_was(tmp_path) -> None:
    from condswin.bundles import BundleError
    from condswin.bundles.registry import embedded_models_dir
    from condswin.training.embedding import rerecord_regression_sample

    registry = Path(shutil.copytree(embedded_models_dir(), tmp_path / "models"))
    text = (registry / "models.json").read_text()
    with pytest.raises(BundleError, match="no model 'nope'"):
        rerecord_regression_sample("nope", tmp_path, registry, log=lambda _: None)
    assert (registry / "models.json").read_text() == text
