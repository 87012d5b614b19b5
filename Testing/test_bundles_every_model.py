"""Every entry of ``condswin.models.list_models()`` survives a bundle round trip: build → save_bundle →
read_bundle → load_bundle gives a network with the same weights and identical outputs (timm's "every
entry of list_models()" test). Small config overrides keep each model at a few thousand parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from condswin.bundles import card_template, load_bundle, read_bundle, save_bundle
from condswin.models import build_model, get_model_spec, list_models
from condswin.models.data_consistency import is_data_consistent

SIZE = 64  # divisible by every network's total downsampling at these configs

# Per config family: overrides that shrink the network without changing its structure. A family missing here
# fails the test below, so a new architecture cannot slip through with its (slow) defaults.
SMALL: dict[str, dict[str, Any]] = {
    "SwinUNetConfig": {"embed_dim": 16, "mlp_hidden": 32, "window_size": 4, "routed_tokens": 3},
    "UNetConfig": {"chans": 4, "num_pool_layers": 2},
    "LinTUNetConfig": {"chans": 4, "num_pool_layers": 2, "image_size": SIZE, "num_heads": 2, "linformer_k": 8},
    "CDAEConfig": {"features": (8, 8)},
    "UNetDCTDAConfig": {"decoder_channels": (16, 8, 8, 8, 8)},
    # a wrapper: its inner network at the small size of that network's family
    "DataConsistencyConfig": {"inner": "unet", "inner_config": {"chans": 4, "num_pool_layers": 2}},
    "UnrolledConfig": {"inner": "unet", "inner_config": {"chans": 4, "num_pool_layers": 2}, "cascades": 2},
    "ResidualDenoiserConfig": {"inner": "unet", "inner_config": {"chans": 4, "num_pool_layers": 2}},
}
OUT_CHANNELS = {"segmentation": 3, "reconstruction": 1, "denoising": 1}


def _small_overrides(name: str) -> dict[str, Any]:
    spec = get_model_spec(name)
    family = spec.config_cls.__name__
    assert family in SMALL, f"add small test overrides for {family} (model {name!r}) to SMALL"
    overrides = dict(SMALL[family])
    if family == "SwinUNetConfig":  # heads: one per stage of this variant, halved
        overrides["num_heads"] = tuple(h // 2 for h in spec.defaults["num_heads"])
    return overrides


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_round_trips_through_a_bundle(
    name: str, tmp_path: Path, single_torch_thread: None
) -> None:
    task = get_model_spec(name).tasks[0]
    torch.manual_seed(0)
    # a data-consistency model takes the complex image (2 channels) and its k-space column mask
    consistent = is_data_consistent(name)
    in_channels = 2 if consistent else 1
    model = build_model(name, in_channels, OUT_CHANNELS[task], **_small_overrides(name)).eval()
    card = card_template(f"every-{name}", task, training_data="none: round-trip test", training_command="pytest")
    if consistent:
        card["input"]["representation"] = "complex"
        for net in model.inner_networks():  # its correction starts at zero: make it show in the output
            torch.nn.init.normal_(net.head.weight)
    save_bundle(model, card, tmp_path / name)

    loaded = load_bundle(read_bundle(tmp_path / name))
    assert loaded.card.architecture == name and loaded.card.task == task
    assert type(loaded.model) is type(model) and not loaded.model.training
    original, restored = model.state_dict(), loaded.model.state_dict()
    assert original.keys() == restored.keys()
    for key, tensor in original.items():
        assert torch.equal(tensor, restored[key]), key
    x = torch.randn(2, in_channels, SIZE, SIZE)
    args = (x, torch.arange(SIZE) % 3 == 0) if consistent else (x,)
    with torch.no_grad():  # not inference_mode: it would leave inference tensors in the Swin layout cache
        assert torch.equal(model(*args), loaded.model(*args))
