"""The Swin U-Net family as networks: registry, the parameter counts of the Conditional Swin U-Net notebook
(docs/architecture.md), sizes, gradients, determinism, bad input."""

from __future__ import annotations

import pytest
import torch

from condswin.errors import UsageError
from condswin.models import build_model, list_models, model_config
from condswin.models.routers import IterativeRouter, LightRouter

NOTEBOOK_VARIANTS = {
    "swin_unet_1l": 1.9e6,
    "swin_unet_2l": 6.5e6,
    "cswin_light_1l": 3.9e6,
    "cswin_light_2l": 16.3e6,
    "cswin_iter_1l": 3.9e6,
    "cswin_iter_2l": 16.3e6,
}
TINY = dict(embed_dim=16, num_heads=(2, 4, 8), depths=(2, 2), window_size=4, routed_tokens=3, dropout=0.0)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_all_notebook_variants_are_registered():
    assert set(NOTEBOOK_VARIANTS) <= set(list_models())


@pytest.mark.parametrize("name,expected", NOTEBOOK_VARIANTS.items())
def test_parameter_counts_match_the_notebook(name, expected):
    model = build_model(name, in_channels=1, out_channels=1)
    assert abs(n_params(model) - expected) / expected <= 0.02


# Exact totals of the notebook's shapes (1 in / 1 out channel); the conditional ones are its 3.94 / 16.31 M.
EXACT_COUNTS = {
    "swin_unet_1l": 1_890_721,
    "swin_unet_2l": 6_507_217,
    "cswin_light_1l": 3_936_689,
    "cswin_light_2l": 16_309_241,
    "cswin_iter_1l": 3_936_689,
    "cswin_iter_2l": 16_309_241,
}


def notebook_conditional_block(d: int, heads: int, window: int = 8) -> dict[str, int]:
    """Parameters of one conditional Swin block of the notebook, by module, from its layer shapes."""
    linear = lambda i, o: i * o + o  # noqa: E731
    table = (2 * window - 1) ** 2  # relative-position bias entries per head
    return {
        "norm1": 2 * d,
        "norm2": 2 * d,
        "attn.light": linear(d, 3 * d) + linear(d, d) + table * (heads // 2),  # qkv, projection, bias; half the heads
        "attn.q_router": d,
        "attn.kv_router": d,
        "attn.heavy_q": linear(d, d),
        "attn.heavy_kv": linear(d, 2 * d),
        "attn.heavy_bias": table * heads,  # all heads; no heavy output projection
        "ff.router": d,
        "ff.light": linear(d, d) + linear(d, d),  # LightFF d→d→d
        "ff.heavy": linear(d, 4 * d) + linear(4 * d, d),  # HeavyFF d→4d→d
    }


def parameters_by_module(block: torch.nn.Module) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, p in block.named_parameters():
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] in ("attn", "ff") else parts[0]
        counts[key] = counts.get(key, 0) + p.numel()
    return counts


def test_conditional_block_has_the_notebook_shapes():
    first = build_model("cswin_light_2l").encoder[0][0]
    assert parameters_by_module(first) == {
        "norm1": 256,
        "norm2": 256,
        "attn.light": 66_498,
        "attn.q_router": 128,
        "attn.kv_router": 128,
        "attn.heavy_q": 16_512,
        "attn.heavy_kv": 33_024,
        "attn.heavy_bias": 900,
        "ff.router": 128,
        "ff.light": 33_024,
        "ff.heavy": 131_712,
    }


@pytest.mark.parametrize("name", ["cswin_light_2l", "cswin_iter_2l"])
def test_every_conditional_block_matches_the_notebook_shapes_and_the_totals_are_exact(name):
    model = build_model(name)
    blocks = [m for m in model.modules() if type(m).__name__ == "SwinBlock"]
    assert len(blocks) == 2 + 2 + 2 + 2 + 2  # encoder ×2 levels, bottleneck, decoder ×2 levels
    for block in blocks:
        d, heads = block.norm1.normalized_shape[0], block.attn.num_heads
        assert parameters_by_module(block) == notebook_conditional_block(d, heads), f"block of width {d}"
    assert n_params(model) == EXACT_COUNTS[name]


@pytest.mark.parametrize("name", ["swin_unet_1l", "swin_unet_2l", "cswin_light_1l", "cswin_iter_1l"])
def test_totals_are_exact(name):
    assert n_params(build_model(name)) == EXACT_COUNTS[name]


def test_heavy_projection_option_adds_one_linear_per_block():
    notebook, with_proj = build_model("cswin_light_1l"), build_model("cswin_light_1l", heavy_projection=True)
    widths = [b.norm1.normalized_shape[0] for b in with_proj.modules() if type(b).__name__ == "SwinBlock"]
    assert n_params(with_proj) - n_params(notebook) == sum(d * d + d for d in widths)


@pytest.mark.parametrize("name", NOTEBOOK_VARIANTS)
def test_notebook_config_keeps_odd_input_size_and_is_deterministic_in_eval(name):
    model = build_model(name).eval()
    x = torch.randn(1, 1, 250, 190)
    with torch.inference_mode():
        y1, y2 = model(x), model(x)
    assert y1.shape == (1, 1, 250, 190)
    assert torch.isfinite(y1).all()
    assert torch.equal(y1, y2)


@pytest.mark.parametrize("name", ["swin_unet_2l", "cswin_light_2l", "cswin_iter_2l"])
@pytest.mark.parametrize("in_ch,out_ch,size", [(1, 1, (37, 53)), (3, 2, (64, 48)), (2, 3, (17, 100))])
def test_any_size_and_channel_count(name, in_ch, out_ch, size):
    model = build_model(name, in_channels=in_ch, out_channels=out_ch, **TINY).eval()
    with torch.inference_mode():
        y = model(torch.randn(2, in_ch, *size))
    assert y.shape == (2, out_ch, *size)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["cswin_light_1l", "cswin_iter_1l"])
def test_gradients_reach_every_routing_vector(name):
    model = build_model(name, in_channels=1, out_channels=2, **{**TINY, "depths": (2,), "num_heads": (2, 4)})
    x = torch.randn(2, 1, 40, 40)
    loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, 2, (2, 40, 40)))
    loss.backward()
    routers = [m for m in model.modules() if isinstance(m, (LightRouter, IterativeRouter))]
    assert len(routers) == 3 * 6  # q, kv and feed-forward routers in each of the 6 blocks
    for router in routers:
        g = router.routing_vector.grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_every_parameter_gets_a_gradient():
    model = build_model("cswin_light_2l", **TINY)
    model(torch.randn(2, 1, 48, 48)).square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_dropout_is_active_in_training_only():
    model = build_model("swin_unet_1l", **{**TINY, "depths": (2,), "num_heads": (2, 4), "dropout": 0.3})
    x = torch.randn(1, 1, 32, 32)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_config_round_trips_through_json_lists():
    cfg = model_config("cswin_iter_2l", depths=[2, 2], num_heads=[4, 8, 16])
    assert cfg.depths == (2, 2) and cfg.num_heads == (4, 8, 16) and cfg.router == "iterative"


def test_light_feed_forward_ratio_is_an_override():
    default = n_params(build_model("cswin_light_1l"))
    narrow = n_params(build_model("cswin_light_1l", light_ff_ratio=0.5))
    assert narrow < default


@pytest.mark.parametrize(
    "make_input,message",
    [
        (lambda: torch.randn(1, 2, 32, 32), "expected 1 input channel"),
        (lambda: torch.randn(1, 32, 32), "4-D tensor"),
        (lambda: torch.zeros(1, 1, 32, 32, dtype=torch.long), "floating-point"),
    ],
)
def test_bad_input_is_a_clear_value_error(make_input, message):
    model = build_model("swin_unet_1l", **{**TINY, "depths": (2,), "num_heads": (2, 4)})
    with pytest.raises(ValueError, match=message):
        model(make_input())


def test_non_finite_input_refused_in_debug_mode_only():
    cfg = {**TINY, "depths": (2,), "num_heads": (2, 4)}
    x = torch.randn(1, 1, 32, 32)
    x[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        build_model("swin_unet_1l", debug=True, **cfg)(x)
    build_model("swin_unet_1l", **cfg).eval()(x)  # no full pass over the input outside debug mode


def test_unknown_names_and_keys_are_usage_errors():
    with pytest.raises(
        UsageError, match=r"unknown model name 'swin_unet_9l'; did you mean 'swin_unet_2l'\?.*accepted: cdae, "
    ):
        build_model("swin_unet_9l")
    with pytest.raises(UsageError, match="unknown config key.*'windowsize'"):
        build_model("swin_unet_1l", windowsize=7)
    with pytest.raises(ValueError, match="num_heads needs"):
        build_model("swin_unet_2l", num_heads=(4, 8))
    with pytest.raises(UsageError, match="unknown router kind 'heavy'.*accepted: light, iterative"):
        build_model("cswin_light_1l", router="heavy")
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        build_model("swin_unet_1l", in_channels=0)


def test_training_after_inference_at_the_same_resolution():
    """Cached window layouts first built under inference_mode must not poison a later training pass."""
    from condswin.models.windows import window_layout

    window_layout.cache_clear()
    model = build_model("cswin_light_1l", **{**TINY, "depths": (2,), "num_heads": (2, 4)})
    x = torch.randn(1, 1, 36, 44)
    with torch.inference_mode():
        model.eval()(x)
    model.train()(x).mean().backward()
    assert model.patch_embed.proj.weight.grad is not None


def test_a_first_build_on_the_meta_device_does_not_poison_later_builds() -> None:
    """The bundle loader sizes a card's network on ``meta`` first; a cached index built there once made every
    later Swin network in the process carry a data-less buffer (``load_bundle`` failed in a fresh process)."""
    from condswin.models import build_model
    from condswin.models.windows import relative_position_index

    relative_position_index.cache_clear()  # as in a fresh process
    with torch.device("meta"):
        build_model("cswin_light_1l", 1, 3, embed_dim=16, num_heads=(2, 4), mlp_hidden=32)
    model = build_model("cswin_light_1l", 1, 3, embed_dim=16, num_heads=(2, 4), mlp_hidden=32).eval()
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()])
    with torch.no_grad():
        assert model(torch.rand(1, 1, 32, 32)).shape == (1, 3, 32, 32)
