"""LinTUNet and its attention layers: Linformer equals full attention when k = n with identity
projections, sparse patterns attend exactly where they should, and the model takes any input size."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condswin.models import build_model, list_models
from condswin.models.efficient_attention import (
    LinformerSelfAttention,
    SparseSelfAttention,
    TokenTransformerBlock,
    local_window_pattern,
    strided_pattern,
)

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _copy_projections_into_reference(attn: nn.Module, dim: int, heads: int) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(dim, heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(attn.qkv.weight)
        ref.in_proj_bias.copy_(attn.qkv.bias)
        ref.out_proj.weight.copy_(attn.proj.weight)
        ref.out_proj.bias.copy_(attn.proj.bias)
    return ref.eval()


def test_linformer_with_identity_projections_equals_full_attention():
    dim, heads, grid = 24, 4, (3, 5)
    n = grid[0] * grid[1]
    attn = LinformerSelfAttention(dim, heads, grid, proj_len=n).eval()
    with torch.no_grad():
        attn.key_proj.copy_(torch.eye(n).reshape(n, *grid))
        attn.value_proj.copy_(torch.eye(n).reshape(n, *grid))
    ref = _copy_projections_into_reference(attn, dim, heads)
    x = torch.randn(2, n, dim)
    with torch.no_grad():
        expected, _ = ref(x, x, x, need_weights=False)
        assert torch.allclose(attn(x, grid), expected, atol=1e-5)
        # With its learned (random) k < n projections it is a different operator.
        small = LinformerSelfAttention(dim, heads, grid, proj_len=4).eval()
        small.qkv.load_state_dict(attn.qkv.state_dict())
        small.proj.load_state_dict(attn.proj.state_dict())
        assert not torch.allclose(small(x, grid), expected, atol=1e-3)


def test_linformer_scores_are_n_by_k():
    attn = LinformerSelfAttention(16, 2, (4, 4), proj_len=5)
    for grid in [(4, 4), (8, 12)]:
        n = grid[0] * grid[1]
        out, weights = attn(torch.randn(3, n, 16), grid, return_attention=True)
        assert out.shape == (3, n, 16)
        assert weights.shape == (3, 2, n, 5)  # n × k per head: linear in n for a fixed k
        assert torch.allclose(weights.sum(-1), torch.ones(3, 2, n), atol=1e-5)


def test_linformer_projection_resize_keeps_the_reference_and_the_total_weight():
    attn = LinformerSelfAttention(8, 1, (4, 6), proj_len=3)
    key_proj, _ = attn.projections((4, 6))
    assert torch.equal(key_proj, attn.key_proj.reshape(3, 24))
    # Each projected key is a weighted sum over all tokens: at 4× the tokens, each weight is ~¼.
    with torch.no_grad():
        attn.key_proj.fill_(0.5)
    resized, _ = attn.projections((8, 12))
    assert resized.shape == (3, 96)
    assert torch.allclose(resized.sum(dim=1), torch.full((3,), 0.5 * 24))


def _dense_reference(attn: SparseSelfAttention, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    b, n, dim = x.shape
    h, d = attn.num_heads, dim // attn.num_heads
    q, k, v = attn.qkv(x).reshape(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
    scores = (q @ k.transpose(-1, -2)) / d**0.5
    weights = scores.masked_fill(~mask, float("-inf")).softmax(-1)
    return attn.proj((weights @ v).transpose(1, 2).reshape(b, n, dim))


@pytest.mark.parametrize("pattern", ["local", "strided"])
@pytest.mark.parametrize("grid,span", [((4, 5), None), ((3, 7), 2), ((5, 3), 4), ((2, 2), 9)])
def test_sparse_attention_equals_dense_masked_attention(pattern, grid, span):
    attn = SparseSelfAttention(12, 3, pattern, span).eval()
    x = torch.randn(2, grid[0] * grid[1], 12)
    with torch.no_grad():
        assert torch.allclose(attn(x, grid), _dense_reference(attn, x, attn.pattern_mask(grid)), atol=1e-5)


def test_sparse_patterns_on_a_grid_cover_the_neighbouring_rows_and_the_column():
    # 4×5 map, span = map width: token 7 is row 1, column 2.
    local = local_window_pattern(20, 5)
    strided = strided_pattern(20, 5)
    assert local[7].nonzero().flatten().tolist() == list(range(2, 13))
    assert strided[7].nonzero().flatten().tolist() == [2, 7, 12, 17]
    assert (local.int() @ strided.int() > 0).all(), "local then strided must connect every pair"


@pytest.mark.parametrize("pattern", ["local", "strided"])
@pytest.mark.parametrize("grid,span", [((4, 6), 3), ((5, 5), 3)])
def test_sparse_attention_output_depends_exactly_on_the_pattern(pattern, grid, span):
    n = grid[0] * grid[1]
    attn = SparseSelfAttention(8, 2, pattern, span)
    allowed = local_window_pattern(n, span) if pattern == "local" else strided_pattern(n, span)
    for query in (0, 10, n - 1):
        x = torch.randn(1, n, 8, requires_grad=True)
        attn(x, grid)[0, query].sum().backward()
        touched = x.grad[0].abs().sum(-1) > 0
        assert torch.equal(touched, allowed[query]), f"query {query}: {touched.nonzero().flatten().tolist()}"


@pytest.mark.parametrize("in_channels,size", [(1, (35, 29)), (3, (32, 45))])
def test_lintunet_shapes_and_gradients(in_channels, size):
    model = build_model(
        "lintunet",
        in_channels=in_channels,
        out_channels=2,
        chans=4,
        num_pool_layers=2,
        image_size=32,
        num_heads=2,
        linformer_k=8,
    )
    x = torch.randn(2, in_channels, *size, requires_grad=True)
    y = model(x)
    assert y.shape == (2, 2, *size)
    y.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert [b.attention_kind for b in model.attention_blocks] == ["linformer", "local", "strided"]


def test_lintunet_samples_are_independent_and_ablations_build():
    assert "lintunet" in list_models("segmentation")
    for layers in [("linformer", "local", "strided"), ("full",), ()]:
        model = build_model(
            "lintunet", chans=4, num_pool_layers=2, image_size=16, num_heads=2, attention_layers=layers
        ).eval()
        x = torch.randn(3, 1, 24, 20)
        with torch.no_grad():
            assert torch.allclose(model(x)[2:3], model(x[2:3]), atol=1e-5)


def test_lintunet_bad_config_and_input():
    with pytest.raises(ValueError, match="unknown attention_layers"):
        build_model("lintunet", chans=4, num_pool_layers=2, num_heads=2, attention_layers=("linear",))
    with pytest.raises(ValueError, match="num_heads 3 must divide"):
        build_model("lintunet", chans=4, num_pool_layers=2, num_heads=3)
    with pytest.raises(ValueError, match="unknown attention kind"):
        TokenTransformerBlock(8, 2, "dense")  # type: ignore[arg-type]
    model = build_model("lintunet", chans=4, num_pool_layers=3, num_heads=2)
    with pytest.raises(ValueError, match="at least 16 px"):
        model(torch.randn(1, 1, 15, 64))
