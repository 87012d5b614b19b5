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
    w = coordinate_descent_weights(s, k, iters=20, eps=2e-2, eps_init=4.0, eps_decay=0.7)  # the notebook's schedule
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


def _fix_router_weights(router, weights):
    """Make ``router`` turn any scores into ``weights`` (windows, N): known routing for a by-hand reference."""
    router.weights = lambda s: weights.to(s.dtype)


def _reference_window_attention(x, qkv_w, qkv_b, proj, table, heads, window, key_mask, q_w=None, routed=None):
    """Dense multi-head window attention, one window at a time, with an offset-computed relative bias.

    Args:
        proj: (weight, bias) of the output projection, or None (the Conditional Swin U-Net notebook's heavy branch has none).
        q_w: (weight, bias) of a separate q projection; ``qkv_w``/``qkv_b`` are then the kv projection.
        routed: (indices, weights), each (windows, k): keys and values come only from those tokens, their
            features scaled by the weights first (the heavy branch); None: every token of the window.

    Returns:
        The output (windows, N, C) and which queries see at least one key (windows, N).
    """
    bw, n, c = x.shape
    ys, xs = torch.div(torch.arange(n), window, rounding_mode="floor"), torch.arange(n) % window
    entry = (ys[:, None] - ys[None, :] + window - 1) * (2 * window - 1) + (xs[:, None] - xs[None, :] + window - 1)
    split = lambda t: t.reshape(-1, heads, c // heads).transpose(0, 1)  # noqa: E731
    outs, sees = [], []
    for b in range(bw):
        keys = torch.arange(n) if routed is None else routed[0][b]
        if q_w is None:
            q, k, v = F.linear(x[b], qkv_w, qkv_b).chunk(3, dim=-1)
            k, v = k[keys], v[keys]
        else:
            q = F.linear(x[b], *q_w)
            key_x = x[b, keys] if routed is None else x[b, keys] * routed[1][b, :, None]
            k, v = F.linear(key_x, qkv_w, qkv_b).chunk(2, dim=-1)
        mask = key_mask[b % key_mask.shape[0]][:, keys]  # windows are ordered (image, window)
        logits = split(q) @ split(k).transpose(-1, -2) / math.sqrt(c // heads)
        logits = logits + table[entry[:, keys]].permute(2, 0, 1) + mask
        outs.append((logits.softmax(-1) @ split(v)).transpose(0, 1).reshape(n, c))
        sees.append((mask == 0).any(-1))
    out = torch.stack(outs)
    return (out if proj is None else F.linear(out, *proj)), torch.stack(sees)


def _light_reference(attn, x, layout):
    light = attn.light
    qkv = (light.qkv.weight, light.qkv.bias)
    proj = (light.proj.weight, light.proj.bias)
    return _reference_window_attention(
        x, *qkv, proj, light.bias.table, light.num_heads, light.bias.window, layout.key_mask
    )


def _heavy_reference(attn, x, layout, routed=None):
    proj = None if attn.heavy_proj is None else (attn.heavy_proj.weight, attn.heavy_proj.bias)
    q_w = (attn.heavy_q.weight, attn.heavy_q.bias)
    kv = (attn.heavy_kv.weight, attn.heavy_kv.bias)
    table = attn.heavy_bias.table
    return _reference_window_attention(
        x, *kv, proj, table, attn.num_heads, attn.heavy_bias.window, layout.key_mask, q_w, routed
    )


def _windows(batch, h, w, dim, window, shift):
    layout = window_layout(h, w, window, shift, torch.device("cpu"))
    x = to_windows(torch.randn(batch, h, w, dim), layout, window)
    valid = None if layout.valid_tokens is None else layout.valid_tokens.repeat(batch, 1)
    real = torch.ones(x.shape[:2], dtype=torch.bool) if valid is None else valid
    return layout, x, valid, real


@pytest.mark.parametrize("heavy_projection", [False, True])
@pytest.mark.parametrize("h,w,shift", [(16, 16, 0), (16, 16, 4), (12, 14, 4)])
def test_conditional_attention_with_all_tokens_routed_equals_light_plus_dense_heavy(h, w, shift, heavy_projection):
    window, dim, heads, batch = 8, 32, 4, 2
    attn = ConditionalWindowAttention(dim, heads, window, k=window * window, heavy_projection=heavy_projection)
    assert (attn.heavy_proj is not None) == heavy_projection
    layout, x, valid, real = _windows(batch, h, w, dim, window, shift)
    _fix_router_weights(attn.q_router, torch.ones(x.shape[:2]))
    _fix_router_weights(attn.kv_router, torch.ones(x.shape[:2]))
    with torch.no_grad():
        out = attn.eval()(x, layout, batch, valid)
        light, _ = _light_reference(attn, x, layout)
        heavy, _ = _heavy_reference(attn, x, layout)
    assert layout.masked == (shift > 0 or (h, w) != (16, 16))
    torch.testing.assert_close(out[real], (light + heavy)[real], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("heavy_projection", [False, True])
@pytest.mark.parametrize("h,w,shift", [(16, 16, 0), (16, 16, 4), (12, 14, 4)])
def test_conditional_attention_is_light_plus_q_weighted_heavy_over_weighted_routed_keys(h, w, shift, heavy_projection):
    """CondW-MSA(Xᵢ) = LightW-MSA(Xᵢ, X) + sᵢ^q · HeavyW-MSA(Xᵢ, s̃^kv X), with non-trivial router weights."""
    window, dim, heads, batch, k = 8, 32, 4, 2, 7
    torch.manual_seed(h + w + shift)
    attn = ConditionalWindowAttention(dim, heads, window, k=k, heavy_projection=heavy_projection).eval()
    layout, x, valid, real = _windows(batch, h, w, dim, window, shift)
    q_weight = torch.rand(x.shape[:2]) * 0.9 + 0.05
    kv_weight = torch.rand(x.shape[:2]) * 0.9 + 0.05
    # Favour the first row of every window: after a shift, queries in the wrapped rows then see none of them.
    kv_weight[:, :window] += 1.0
    kv_weight = kv_weight * real  # padding is never routed, as the routers ensure
    _fix_router_weights(attn.q_router, q_weight)
    _fix_router_weights(attn.kv_router, kv_weight)
    chosen = torch.topk(kv_weight, k, dim=-1).indices
    chosen_weight = torch.gather(kv_weight, 1, chosen)
    with torch.no_grad():
        out = attn(x, layout, batch, valid)
        light, _ = _light_reference(attn, x, layout)
        heavy, sees = _heavy_reference(attn, x, layout, routed=(chosen, chosen_weight))
    # A query that may see none of its window's routed keys (after the shift) gets no heavy term.
    expected = light + (q_weight * sees).unsqueeze(-1) * heavy
    assert (h, w, shift) != (16, 16, 4) or not sees[real].all()  # this case does exercise that rule
    torch.testing.assert_close(out[real], expected[real], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(out[real], (light + heavy)[real], atol=1e-3)  # the q weights do matter here


def test_plain_window_attention_matches_reference():
    window, dim, heads, batch, h, w = 4, 16, 2, 3, 8, 12
    attn = WindowAttention(dim, heads, window).eval()
    layout = window_layout(h, w, window, 2, torch.device("cpu"))
    x = to_windows(torch.randn(batch, h, w, dim), layout, window)
    with torch.no_grad():
        ref, _ = _reference_window_attention(
            x,
            attn.qkv.weight,
            attn.qkv.bias,
            (attn.proj.weight, attn.proj.bias),
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


def test_conditional_feed_forward_adds_the_weighted_heavy_mlp_to_the_light_one_on_routed_tokens():
    """ConditionalFF(Xᵢ) = LightFF(Xᵢ) + s̃ᵢ · HeavyFF(Xᵢ) on the k routed tokens, LightFF(Xᵢ) on the others."""
    windows, n, dim, k = 3, 64, 16, 5
    ff = ConditionalFeedForward(dim=dim, light_hidden=dim, heavy_hidden=4 * dim, k=k).eval()
    weight = torch.rand(windows, n) * 0.9 + 0.05
    _fix_router_weights(ff.router, weight)
    x = torch.randn(windows, n, dim)
    mlp = lambda m, t: F.linear(F.gelu(F.linear(t, m.fc1.weight, m.fc1.bias)), m.fc2.weight, m.fc2.bias)  # noqa: E731
    picked = torch.zeros(windows, n, dtype=torch.bool).scatter_(1, torch.topk(weight, k, dim=-1).indices, True)
    with torch.no_grad():
        out = ff(x)
        light, heavy = mlp(ff.light, x), mlp(ff.heavy, x)
    expected = torch.where(picked.unsqueeze(-1), light + weight.unsqueeze(-1) * heavy, light)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)


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
