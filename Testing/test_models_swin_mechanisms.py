"""The mechanisms of the (Conditional) Swin U-Net, each checked against an independent construction."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from condswin.models.conditional import ConditionalFeedForward, ConditionalWindowAttention
from condswin.models.routers import IterativeRouter, LightRouter, coordinate_descent_weights
from condswin.models.window_attention import WindowAttention
from condswin.models.windows import (
    from_windows,
    relative_position_index,
    shift_region_mask,
    to_windows,
    window_layout,
    window_partition,
    window_reverse,
)


@pytest.mark.parametrize("window", [2, 4, 7, 8])
def test_relative_position_index_is_bijective_on_offsets(window):
    n = window * window
    index = relative_position_index(window)
    ys, xs = torch.div(torch.arange(n), window, rounding_mode="floor"), torch.arange(n) % window
    offsets = {}
    for i in range(n):
        for j in range(n):
            offset = (int(ys[i] - ys[j]), int(xs[i] - xs[j]))
            entry = int(index[i, j])
            assert offsets.setdefault(offset, entry) == entry  # one offset → one entry
    entries = list(offsets.values())
    assert len(set(entries)) == len(entries) == (2 * window - 1) ** 2  # distinct offsets → distinct entries
    assert min(entries) == 0 and max(entries) == (2 * window - 1) ** 2 - 1


@pytest.mark.parametrize("h,w,window,shift", [(16, 16, 8, 4), (16, 24, 8, 4), (12, 9, 3, 1), (8, 16, 4, 2)])
def test_shift_mask_matches_independent_construction(h, w, window, shift):
    mask = shift_region_mask(h, w, window, shift)
    # Independent rule: after rolling by -shift, position (y, x) holds a wrapped-around row when
    # y >= h - shift (same for x). Two tokens of a window may attend iff both or neither wrapped, per axis.
    nw_x = w // window
    expected = torch.zeros_like(mask)
    for win in range(mask.shape[0]):
        wy, wx = divmod(win, nw_x)
        coords = [(wy * window + a, wx * window + b) for a in range(window) for b in range(window)]
        for i, (yi, xi) in enumerate(coords):
            for j, (yj, xj) in enumerate(coords):
                expected[win, i, j] = ((yi >= h - shift) != (yj >= h - shift)) or (
                    (xi >= w - shift) != (xj >= w - shift)
                )
    assert torch.equal(mask, expected)
    assert not shift_region_mask(h, w, window, 0).any()


@pytest.mark.parametrize("h,w,shift", [(16, 16, 0), (16, 16, 4), (13, 10, 4), (5, 19, 0)])
def test_window_layout_round_trip_equals_pad_roll_partition(h, w, shift):
    window = 8
    x = torch.randn(2, h, w, 3)
    layout = window_layout(h, w, window, shift, x.device)
    xw = to_windows(x, layout, window)
    hp, wp = layout.padded_hw
    ref = F.pad(x, (0, 0, 0, wp - w, 0, hp - h))
    ref = torch.roll(ref, (-shift, -shift), (1, 2))
    ref_w = window_partition(ref, window)
    valid = (
        torch.ones(ref_w.shape[:2], dtype=torch.bool)
        if layout.valid_tokens is None
        else layout.valid_tokens.repeat(2, 1)
    )
    assert torch.equal(xw[valid], ref_w[valid])  # real tokens land where pad + roll + partition puts them
    assert torch.equal(from_windows(xw, layout, 2, h, w), x)
    assert torch.equal(window_reverse(window_partition(ref, window), window, hp, wp), ref)


def test_light_router_returns_topk_of_softmax():
    router = LightRouter(dim=16, k=7)
    x = torch.randn(5, 64, 16)
    routing = router(x)
    probs = torch.softmax(x @ router.routing_vector, dim=-1)
    assert torch.allclose(routing.weights, probs, atol=1e-6)
    expected = torch.topk(probs, 7, dim=-1).indices
    assert torch.equal(routing.indices.sort(-1).values, expected.sort(-1).values)
    assert torch.allclose(routing.selected_weights, torch.gather(probs, 1, routing.indices))


def test_light_router_never_picks_padding():
    router = LightRouter(dim=8, k=3)
    x = torch.randn(4, 16, 8)
    valid = torch.zeros(4, 16, dtype=torch.bool)
    valid[:, :5] = True
    routing = router(x, valid)
    assert (routing.indices < 5).all()
    assert torch.allclose(routing.weights[:, 5:], torch.zeros(4, 11))


@pytest.mark.parametrize("k", [1, 7, 20])
def test_iterative_router_weights_follow_scores_and_approach_k(k):
    torch.manual_seed(k)
    s = torch.randn(6, 64) * 2
    w = coordinate_descent_weights(s, k, iters=20, eps=2e-2, eps_init=4.0, eps_decay=0.7)  # the seed's schedule
    assert ((w >= 0) & (w <= 1 + 1e-5)).all()
    assert (w.sum(-1) <= k + 1e-3).all() and (w.sum(-1) >= 0.5 * k).all()
    sorted_w = torch.gather(w, 1, s.argsort(-1))
    assert (sorted_w[:, 1:] >= sorted_w[:, :-1] - 1e-6).all()  # weights ordered like the scores
    for row in range(6):
        assert set(torch.topk(w[row], k).indices.tolist()) == set(torch.topk(s[row], k).indices.tolist())
    router = IterativeRouter(dim=4, k=k)
    assert router(torch.randn(2, 64, 4)).indices.shape == (2, k)


@pytest.mark.parametrize("k", [1, 7])
def test_iterative_router_weights_sum_to_k_once_converged(k):
    torch.manual_seed(k)
    s = torch.randn(6, 64)
    w = coordinate_descent_weights(s, k, iters=400, eps=2e-2, eps_init=4.0, eps_decay=0.7)
    torch.testing.assert_close(w.sum(-1), torch.full((6,), float(k)), rtol=0.02, atol=0.0)


def _fix_router_weights_to_one(router):
    router.weights = lambda s: torch.ones_like(s)


def _reference_window_attention(x, qkv_w, qkv_b, proj_w, proj_b, table, heads, window, key_mask, q_w=None):
    """Plain dense multi-head window attention with an offset-computed relative bias."""
    bw, n, c = x.shape
    if q_w is None:
        q, k, v = F.linear(x, qkv_w, qkv_b).chunk(3, dim=-1)
    else:  # heavy branch: separate q and kv projections
        q = F.linear(x, *q_w)
        k, v = F.linear(x, qkv_w, qkv_b).chunk(2, dim=-1)
    split = lambda t: t.view(bw, n, heads, c // heads).transpose(1, 2)  # noqa: E731
    q, k, v = split(q), split(k), split(v)
    ys, xs = torch.div(torch.arange(n), window, rounding_mode="floor"), torch.arange(n) % window
    entry = (ys[:, None] - ys[None, :] + window - 1) * (2 * window - 1) + (xs[:, None] - xs[None, :] + window - 1)
    bias = table[entry].permute(2, 0, 1)  # (heads, n, n)
    nw = key_mask.shape[0]
    logits = q @ k.transpose(-1, -2) / math.sqrt(c // heads) + bias
    logits = logits + key_mask.repeat(bw // nw, 1, 1).unsqueeze(1)
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(bw, n, c)
    return F.linear(out, proj_w, proj_b)


@pytest.mark.parametrize("h,w,shift", [(16, 16, 0), (16, 16, 4), (12, 14, 4)])
def test_conditional_attention_with_all_tokens_routed_equals_light_plus_dense_heavy(h, w, shift):
    window, dim, heads, batch = 8, 32, 4, 2
    attn = ConditionalWindowAttention(dim, heads, window, k=window * window, router="light").eval()
    _fix_router_weights_to_one(attn.q_router)
    _fix_router_weights_to_one(attn.kv_router)
    layout = window_layout(h, w, window, shift, torch.device("cpu"))
    x = to_windows(torch.randn(batch, h, w, dim), layout, window)
    with torch.no_grad():
        out = attn(x, layout, batch, None if layout.valid_tokens is None else layout.valid_tokens.repeat(batch, 1))
        light = _reference_window_attention(
            x,
            attn.light.qkv.weight,
            attn.light.qkv.bias,
            attn.light.proj.weight,
            attn.light.proj.bias,
            attn.light.bias.table,
            heads // 2,
            window,
            layout.key_mask,
        )
        heavy = _reference_window_attention(
            x,
            attn.heavy_kv.weight,
            attn.heavy_kv.bias,
            attn.heavy_proj.weight,
            attn.heavy_proj.bias,
            attn.heavy_bias.table,
            heads,
            window,
            layout.key_mask,
            q_w=(attn.heavy_q.weight, attn.heavy_q.bias),
        )
    real = (
        torch.ones(x.shape[:2], dtype=torch.bool)
        if layout.valid_tokens is None
        else layout.valid_tokens.repeat(batch, 1)
    )
    assert layout.masked == (shift > 0 or (h, w) != (16, 16))
    torch.testing.assert_close(out[real], (light + heavy)[real], atol=1e-5, rtol=1e-4)


def test_plain_window_attention_matches_reference():
    window, dim, heads, batch, h, w = 4, 16, 2, 3, 8, 12
    attn = WindowAttention(dim, heads, window).eval()
    layout = window_layout(h, w, window, 2, torch.device("cpu"))
    x = to_windows(torch.randn(batch, h, w, dim), layout, window)
    with torch.no_grad():
        ref = _reference_window_attention(
            x,
            attn.qkv.weight,
            attn.qkv.bias,
            attn.proj.weight,
            attn.proj.bias,
            attn.bias.table,
            heads,
            window,
            layout.key_mask,
        )
        torch.testing.assert_close(attn(x, layout, batch), ref, atol=1e-5, rtol=1e-4)


def test_heavy_attention_only_sees_routed_keys():
    window, dim, heads, k = 4, 16, 2, 3
    attn = ConditionalWindowAttention(dim, heads, window, k=k).eval()
    layout = window_layout(4, 4, window, 0, torch.device("cpu"))
    x = torch.randn(1, 16, dim)
    routing = attn.kv_router(x)
    unrouted = [i for i in range(16) if i not in routing.indices[0].tolist()]
    x2 = x.clone()
    # Changing a key the kv router did not pick (keeping its routing score) leaves the heavy branch unchanged.
    r = attn.kv_router.routing_vector.detach()
    delta = torch.randn(dim)
    delta -= (delta @ r) / (r @ r) * r  # orthogonal to r: the token's score stays the same
    x2[0, unrouted[0]] += delta
    with torch.no_grad():
        h1, _ = attn.heavy_attention(x, attn.kv_router(x), layout, 1)
        h2, _ = attn.heavy_attention(x2, attn.kv_router(x2), layout, 1)
    assert torch.equal(attn.kv_router(x2).indices.sort().values, routing.indices.sort().values)
    keep = [i for i in range(16) if i != unrouted[0]]
    torch.testing.assert_close(h1[0, keep], h2[0, keep], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("router", ["light", "iterative"])
def test_unrouted_tokens_get_exactly_the_light_feed_forward(router):
    ff = ConditionalFeedForward(dim=16, light_hidden=8, heavy_hidden=64, k=5, router=router).eval()
    x = torch.randn(3, 64, 16)
    with torch.no_grad():
        out = ff(x)
        light = ff.light(x)
        picked = torch.zeros(3, 64, dtype=torch.bool)
        picked.scatter_(1, ff.router(x).indices, True)
    assert torch.equal(out[~picked], light[~picked])
    assert not torch.allclose(out[picked], light[picked])
    assert picked.sum() == 3 * 5


def test_cached_attention_mask_follows_weight_updates():
    window, dim, heads, batch, h, w = 4, 16, 2, 2, 8, 8
    attn = WindowAttention(dim, heads, window).eval()
    layout = window_layout(h, w, window, 2, torch.device("cpu"))
    x = to_windows(torch.randn(batch, h, w, dim), layout, window)
    with torch.no_grad():
        first = attn(x, layout, batch)
        assert torch.equal(attn(x, layout, batch), first)  # served from the cache
        attn.bias.table.add_(torch.randn_like(attn.bias.table))  # what an optimizer step or load does
        updated = attn(x, layout, batch)
    fresh = attn(x, layout, batch).detach()  # with autograd: never cached
    assert not torch.allclose(updated, first)
    torch.testing.assert_close(updated, fresh)
    with torch.no_grad():
        assert attn(x[:4], layout, 1).shape == (4, 16, dim)  # another batch size rebuilds the mask
