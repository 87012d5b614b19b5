"""What a bundle's card and weights must be before any of them is loaded: every size-setting config field within
its limit (checked before anything is built), exactly the network's tensors in the card's storage dtype (missing
or extra ones named with their sizes), and a weights file inside the bundle."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import pytest
import SimpleITK as sitk
import torch
from safetensors.torch import load_file, save_file

from condswin.bundles import CARD_FILENAME, BundleError, load_bundle, read_bundle, sha256_file
from condswin.cli import main as condswin_main
from condswin.errors import UsageError
from condswin.models import build_model, list_models
from condswin.models import registry as registry_module
from condswin.models.registry import get_model_spec
from condswin.models.validation import CONFIG_LIMITS, UNSIZED_FIELDS

WEIGHTS = "model.safetensors"


@pytest.fixture()
def seg_bundle(tiny_bundles: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the shared segmentation bundle (a tiny U-Net: these tests tamper with it)."""
    return Path(shutil.copytree(tiny_bundles["segmentation"], tmp_path / "seg"))


def _edit_card(bundle: Path, **changes) -> None:
    card = json.loads((bundle / CARD_FILENAME).read_text())
    card.update(changes)
    (bundle / CARD_FILENAME).write_text(json.dumps(card))


def _rewrite_weights(bundle: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Replace the weights and record their new sha256 on the card, as someone crafting a bundle would."""
    save_file(tensors, str(bundle / WEIGHTS))
    _edit_card(bundle, sha256=sha256_file(bundle / WEIGHTS))


def _above_limit(name: str, default):
    """A value of config field ``name`` just above its limit (one entry too many for a tuple of names)."""
    limit = CONFIG_LIMITS[name]
    if isinstance(default, (tuple, list)):
        if limit.maximum is None:
            return list(default) + [default[0]] * (limit.max_entries + 1 - len(default))
        return [limit.maximum + 1] * max(len(default), 1)
    return type(default)(limit.maximum + 1) if default is not None else int(limit.maximum + 1)


# --- every field that sets a network's size is bounded, before anything is built -----------------------------


def test_every_config_field_of_every_architecture_is_bounded_or_unsized() -> None:
    """A new architecture field must be given a limit or a reason it cannot make a network large."""
    for name in list_models():
        for field in dataclasses.fields(get_model_spec(name).config_cls):
            assert field.name in CONFIG_LIMITS or field.name in UNSIZED_FIELDS, (name, field.name)


def test_a_field_above_its_limit_is_refused_before_anything_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = 0
    for name in list_models():
        spec = get_model_spec(name)

        def never_built(config, name=name):
            raise AssertionError(f"{name} was built with {config}")

        monkeypatch.setitem(registry_module._REGISTRY, name, dataclasses.replace(spec, builder=never_built))
        for field in dataclasses.fields(spec.config_cls):
            if field.name not in CONFIG_LIMITS:
                continue
            default = spec.defaults.get(field.name, field.default)
            if default is dataclasses.MISSING:
                default = field.default_factory()  # type: ignore[misc]
            value = _above_limit(field.name, default)
            with pytest.raises(UsageError, match=rf"{name}: {field.name}(\[0\])? (is|has) "):
                build_model(name, 2 if name == "recon_dc" else 1, 1, **{field.name: value})
            checked += 1
    assert checked >= 30


def test_a_wrapped_network_s_fields_are_bounded_too() -> None:
    # on the meta device, so that a missing check fails the test instead of allocating the network
    with pytest.raises(UsageError, match=r"residual_denoiser: inner_config\.num_pool_layers is 60; at most 8"):
        with torch.device("meta"):
            build_model("residual_denoiser", 1, 1, inner_config={"num_pool_layers": 60})


def test_a_card_with_a_depth_above_its_limit_is_exit_4_at_once_naming_the_field(
    seg_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _edit_card(seg_bundle, config={"chans": 4, "num_pool_layers": 60})
    image = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.Image(32, 32, 4, sitk.sitkInt16), str(image))
    started = time.perf_counter()
    code = condswin_main(["segment", str(image), str(tmp_path / "out.nii.gz"), "--model", str(seg_bundle)])
    assert code == 4
    assert time.perf_counter() - started < 20
    err = capsys.readouterr().err
    assert "num_pool_layers is 60; at most 8 is accepted" in err and str(seg_bundle / CARD_FILENAME) in err
    assert not (tmp_path / "out.nii.gz").exists()


# --- the weights are exactly the network's tensors, in the card's dtype --------------------------------------


def test_integer_or_float64_weights_are_refused_not_cast(seg_bundle: Path) -> None:
    tensors = load_file(str(seg_bundle / WEIGHTS))
    _rewrite_weights(seg_bundle, {k: v.round().to(torch.int64) for k, v in tensors.items()})
    with pytest.raises(BundleError, match=r"tensor\(s\) of another dtype: .*\(network F32, file I64\)"):
        load_bundle(read_bundle(seg_bundle))
    _rewrite_weights(seg_bundle, {k: v.to(torch.float64) for k, v in tensors.items()})
    with pytest.raises(BundleError, match=r"\(network F32, file F64\)"):
        load_bundle(read_bundle(seg_bundle))
    _rewrite_weights(seg_bundle, {k: v.to(torch.float16) for k, v in tensors.items()})
    with pytest.raises(BundleError, match=r"\(network F32, file F16\)"):  # the card says float32
        load_bundle(read_bundle(seg_bundle))
    _edit_card(seg_bundle, weights_dtype="float16")
    loaded = load_bundle(read_bundle(seg_bundle))  # what the card allows loads, as float32
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())


def test_integer_weights_are_exit_4_through_the_command(
    seg_bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    tensors = load_file(str(seg_bundle / WEIGHTS))
    _rewrite_weights(seg_bundle, {k: v.round().to(torch.int64) for k, v in tensors.items()})
    image = tmp_path / "ct.nii.gz"
    sitk.WriteImage(sitk.Image(32, 32, 4, sitk.sitkInt16), str(image))
    code = condswin_main(["segment", str(image), str(tmp_path / "out.nii.gz"), "--model", str(seg_bundle)])
    assert code == 4 and "of another dtype" in capsys.readouterr().err
    assert not (tmp_path / "out.nii.gz").exists()


def test_missing_and_extra_tensors_are_named_with_their_exact_sizes(seg_bundle: Path) -> None:
    tensors = load_file(str(seg_bundle / WEIGHTS))
    head_bias = tensors.pop("head.bias")
    assert tuple(head_bias.shape) == (3,)
    _rewrite_weights(seg_bundle, tensors)
    with pytest.raises(BundleError) as missing:
        load_bundle(read_bundle(seg_bundle))
    assert "1 tensor(s) missing from the file: head.bias (F32 [3], 12 bytes)" in str(missing.value)
    assert "MiB" not in str(missing.value)
    _rewrite_weights(seg_bundle, {**tensors, "head.bias": head_bias, "stray.weight": torch.zeros(2, 5)})
    with pytest.raises(BundleError) as extra:
        load_bundle(read_bundle(seg_bundle))
    assert "1 tensor(s) the network does not have: stray.weight (F32 [2, 5], 40 bytes)" in str(extra.value)


# --- the weights lie inside the bundle -----------------------------------------------------------------------


def test_weights_linked_from_outside_the_bundle_are_refused(seg_bundle: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.safetensors"
    shutil.move(seg_bundle / WEIGHTS, elsewhere)
    (seg_bundle / WEIGHTS).symlink_to(elsewhere)  # the sha256 still matches: only the place is wrong
    with pytest.raises(BundleError, match=r"a link to .*elsewhere\.safetensors, outside the bundle folder"):
        load_bundle(read_bundle(seg_bundle))
    (seg_bundle / WEIGHTS).unlink()
    (seg_bundle / "sub").symlink_to(tmp_path, target_is_directory=True)  # a linked folder on the way
    _edit_card(seg_bundle, weights="sub/elsewhere.safetensors")
    with pytest.raises(BundleError, match="outside the bundle folder"):
        load_bundle(read_bundle(seg_bundle))


def test_a_link_that_stays_inside_the_bundle_is_accepted(seg_bundle: Path) -> None:
    (seg_bundle / "v1").mkdir()
    shutil.move(seg_bundle / WEIGHTS, seg_bundle / "v1" / WEIGHTS)
    (seg_bundle / WEIGHTS).symlink_to(Path("v1") / WEIGHTS)
    assert load_bundle(read_bundle(seg_bundle)).card.id == "tiny-segmentation"
