"""Slice engine: orientation, normalisation, resampling, batching, OOM fallback, cancel, geometry."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from torch import nn

from condswin.bundles.contract import robust_range
from condswin.errors import InputError, ModelError, UsageError
from condswin.inference import (
    InferenceCancelled,
    InferenceOptions,
    SliceEngine,
    SliceLayout,
    predict_volume,
    resolve_device,
    segment_image,
)
from condswin.inference.device import is_out_of_memory
from condswin.models import build_model


class Recorder(nn.Module):
    """Parameter-free stand-in network: records input shapes, returns a fixed function of its input."""

    def __init__(self, out_channels: int, fail_above: int | None = None, fail_off_cpu: bool = False):
        super().__init__()
        self.out_channels = out_channels
        self.fail_above = fail_above
        self.fail_off_cpu = fail_off_cpu
        self.calls: list[tuple[int, ...]] = []
        self.devices: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fail_off_cpu and x.device.type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if self.fail_above is not None and x.shape[0] > self.fail_above:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.calls.append(tuple(x.shape))
        self.devices.append(x.device.type)
        if self.out_channels == 1:
            return x[:, :1] * 1.0  # identity image model
        # class scores: background where x < 0.3, class 1 for 0.3-0.7, class 2 above
        return torch.cat([0.3 - x, 0.2 - (x - 0.5).abs(), x - 0.7], dim=1)


def _expected_labels(hu: np.ndarray, low: float = -100.0, high: float = 400.0) -> np.ndarray:
    x = np.clip((hu.astype(np.float32) - low) / (high - low), 0, 1)
    scores = np.stack([0.3 - x, 0.2 - np.abs(x - 0.5), x - 0.7])
    return scores.argmax(0).astype(np.uint8)


def _oblique_image(shape_zyx=(5, 12, 10), spacing=(0.7, 0.9, 3.0), seed: int = 0) -> sitk.Image:
    rng = np.random.default_rng(seed)
    image = sitk.GetImageFromArray(rng.integers(-300, 600, size=shape_zyx).astype(np.int16))
    image.SetSpacing(spacing)
    image.SetOrigin((-12.5, 40.25, -301.0))
    angle = np.deg2rad(17.0)
    c, s = np.cos(angle), np.sin(angle)
    image.SetDirection((c, -s, 0.0, s, c, 0.0, 0.0, 0.0, 1.0))
    return image


def test_axial_slices_do_not_depend_on_storage_order() -> None:
    """The same anatomy stored with permuted and reversed axes gives the same axial slices."""
    rng = np.random.default_rng(1)
    canonical = sitk.GetImageFromArray(rng.normal(size=(4, 6, 5)).astype(np.float32))
    canonical.SetSpacing((0.8, 0.9, 2.5))
    reference = SliceLayout.from_image(canonical, "axial")
    expected = reference.slices(sitk.GetArrayFromImage(canonical))
    for order, flips in [
        ((1, 0, 2), (True, False, False)),
        ((2, 0, 1), (False, True, True)),
        ((0, 1, 2), (True, True, False)),
    ]:
        stored = sitk.Flip(sitk.PermuteAxes(canonical, order), flips)  # physically the same image
        layout = SliceLayout.from_image(stored, "axial")
        assert layout.spacing == reference.spacing
        np.testing.assert_array_equal(layout.slices(sitk.GetArrayFromImage(stored)), expected)


@pytest.mark.parametrize(
    "axis,shape,spacing",
    [  # (slices, rows, columns) and (row, column) mm of an image of 5 × 6 × 4 voxels, spacing x 0.8, y 0.9, z 2.5
        ("axial", (4, 6, 5), (0.9, 0.8)),  # rows run along y (anterior → posterior), columns along x
        ("coronal", (6, 4, 5), (2.5, 0.8)),  # rows along z, columns along x
        ("sagittal", (5, 4, 6), (2.5, 0.9)),  # rows along z, columns along y
        ("slice", (4, 6, 5), (0.9, 0.8)),  # the stored order: rows are index j (y), columns index i (x)
    ],
)
def test_slice_spacing_is_the_physical_row_and_column_size(axis, shape, spacing) -> None:
    """Known sizes, not another layout from the same code: a swapped (row, column) order would pass that."""
    image = sitk.Image(5, 6, 4, sitk.sitkFloat32)
    image.SetSpacing((0.8, 0.9, 2.5))
    layout = SliceLayout.from_image(image, axis)
    assert layout.spacing == pytest.approx(spacing)
    assert layout.slices(sitk.GetArrayFromImage(image)).shape == shape


def test_slice_views_write_back_into_the_volume() -> None:
    layout = SliceLayout(axes=(1, 0, 2), flip_rows=True, flip_columns=False, spacing=(1.0, 1.0))
    volume = np.zeros((3, 4, 5))
    layout.slices(volume)[2] = np.arange(15).reshape(3, 5)
    np.testing.assert_array_equal(volume[:, 2, :], np.arange(15).reshape(3, 5)[::-1])


def test_segmentation_keeps_exact_geometry_and_labels_per_voxel(make_card) -> None:
    image = _oblique_image()
    card = make_card(input=dict(size=None), output=dict(postprocess="none"))
    labels, _ = segment_image(image, Recorder(3), card, InferenceOptions(device="cpu", batch_size=2))
    assert labels.GetPixelID() == sitk.sitkUInt8
    assert labels.GetSize() == image.GetSize()
    assert labels.GetSpacing() == image.GetSpacing()
    assert labels.GetOrigin() == image.GetOrigin()
    assert labels.GetDirection() == image.GetDirection()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(labels), _expected_labels(sitk.GetArrayFromImage(image)))


def test_score_offsets_shift_the_argmax_by_class(make_card) -> None:
    """The card's score offsets are added to the class scores before the argmax: +0.25 on class 2 moves the
    class 1/2 boundary of the stand-in network from x = 0.7 to 0.6, and nothing else."""
    image = _oblique_image()
    hu = sitk.GetArrayFromImage(image)
    card = make_card(input=dict(size=None), output=dict(postprocess="none", score_offsets=[0.0, 0.0, 0.25]))
    labels = sitk.GetArrayFromImage(segment_image(image, Recorder(3), card, InferenceOptions(device="cpu"))[0])
    x = np.clip((hu.astype(np.float32) + 100.0) / 500.0, 0, 1)
    scores = np.stack([0.3 - x, 0.2 - np.abs(x - 0.5), x - 0.7 + 0.25])
    np.testing.assert_array_equal(labels, scores.argmax(0).astype(np.uint8))
    moved = labels != _expected_labels(hu)
    assert moved.any() and (labels[moved] == 2).all()


def test_batches_are_bounded_and_results_batch_independent(make_card) -> None:
    image = _oblique_image(shape_zyx=(7, 12, 10))
    card = make_card()
    results = []
    for batch in (1, 3, 8):
        model = Recorder(3)
        array, info = predict_volume(image, model, card, InferenceOptions(device="cpu", batch_size=batch))
        assert max(shape[0] for shape in model.calls) <= batch
        assert sum(shape[0] for shape in model.calls) == 7
        assert all(shape[-2:] == (256, 256) for shape in model.calls)  # the card's fixed in-plane size
        assert array.dtype == np.uint8 and info.batch_size == batch
        results.append(array)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_pixel_size_resamples_to_the_model_grid_and_back(make_card) -> None:
    contract = make_card("denoising", input=dict(pixel_size_mm=[1.0, 2.0])).contract
    assert contract.model_grid((40, 30), (0.5, 1.0)) == (20, 15)
    model = Recorder(1)
    slices = np.tile(np.linspace(0, 100, 30, dtype=np.float32), (2, 40, 1))
    out = np.zeros_like(slices)
    SliceEngine(model, contract, InferenceOptions(device="cpu")).run(
        slices, out, (0.5, 1.0), contract.normalization.fit(slices)
    )
    assert model.calls == [(2, 1, 20, 15)]
    assert out.shape == slices.shape
    # an identity network through down- and up-sampling keeps a linear ramp up to interpolation at the borders
    np.testing.assert_allclose(out[:, :, 3:-3], slices[:, :, 3:-3], rtol=0, atol=1.0)


def test_percentile_normalisation_is_inverted_for_image_outputs(make_card) -> None:
    contract = make_card("denoising").contract
    rng = np.random.default_rng(2)
    volume = rng.gamma(2.0, 50.0, size=(3, 16, 16)).astype(np.float32)
    fitted = contract.normalization.fit(volume)
    lo, hi = robust_range(volume, 0.5, 99.5)
    assert fitted == pytest.approx((lo, hi - lo))
    out = np.zeros_like(volume)
    SliceEngine(Recorder(1), contract, InferenceOptions(device="cpu", batch_size=2)).run(
        volume, out, (1.0, 1.0), fitted
    )
    np.testing.assert_allclose(out, volume, rtol=1e-5, atol=1e-3)


def test_out_of_memory_halves_the_batch_and_gives_the_same_result(make_card) -> None:
    contract = make_card("segmentation", input=dict(size=None)).contract
    slices = np.random.default_rng(3).integers(-200, 500, size=(9, 8, 8)).astype(np.int16)
    reference = np.zeros(slices.shape, np.uint8)
    SliceEngine(Recorder(3), contract, InferenceOptions(device="cpu", batch_size=8)).run(slices, reference, (1.0, 1.0))
    notes: list[str] = []
    model = Recorder(3, fail_above=2)
    out = np.zeros(slices.shape, np.uint8)
    info = SliceEngine(
        model, contract, InferenceOptions(device="cpu", batch_size=8, progress=lambda d, t, m: m and notes.append(m))
    ).run(slices, out, (1.0, 1.0))
    np.testing.assert_array_equal(out, reference)
    assert info.batch_size == 2 and max(s[0] for s in model.calls) == 2
    assert len(notes) == 2 and "retrying with 4" in notes[0] and "retrying with 2" in notes[1]


def test_out_of_memory_at_batch_one_falls_back_to_the_cpu(make_card) -> None:
    # "meta" stands in for an accelerator: the parameter-free model refuses to run anywhere but on the CPU.
    contract = make_card("segmentation", input=dict(size=None)).contract
    slices = np.random.default_rng(4).integers(-200, 500, size=(5, 8, 8)).astype(np.int16)
    model = Recorder(3, fail_off_cpu=True)
    out = np.zeros(slices.shape, np.uint8)
    info = SliceEngine(model, contract, InferenceOptions(device=torch.device("meta"), batch_size=4)).run(
        slices, out, (1.0, 1.0)
    )
    assert info.device == "cpu" and set(model.devices) == {"cpu"}
    assert any("continuing on the CPU" in m for m in info.messages)
    np.testing.assert_array_equal(out, _expected_labels(slices))
    with pytest.raises(torch.OutOfMemoryError):  # on the CPU there is nowhere left to go
        SliceEngine(Recorder(3, fail_above=0), contract, InferenceOptions(device="cpu", batch_size=2)).run(
            slices, out, (1.0, 1.0)
        )


def test_cancel_stops_within_one_batch_and_writes_nothing_more(make_card) -> None:
    contract = make_card("segmentation", input=dict(size=None)).contract
    slices = np.zeros((10, 8, 8), np.int16)
    out = np.full(slices.shape, 7, np.uint8)
    flag = threading.Event()
    model = Recorder(3)
    options = InferenceOptions(device="cpu", batch_size=3, cancel=flag, progress=lambda d, t, m: flag.set())
    with pytest.raises(InferenceCancelled, match="after 3 of 10"):
        SliceEngine(model, contract, options).run(slices, out, (1.0, 1.0))
    assert len(model.calls) == 1
    assert (out[:3] == 0).all() and (out[3:] == 7).all()


def test_real_network_runs_deterministically_on_an_anisotropic_volume(make_card) -> None:
    torch.manual_seed(0)
    model = build_model("swin_unet_1l", 1, 3, embed_dim=16, num_heads=(2, 4), mlp_hidden=32, window_size=4)
    card = make_card(architecture="swin_unet_1l", input=dict(size=None, pixel_size_mm=[1.5, 1.5]))
    image = _oblique_image(shape_zyx=(3, 20, 18), spacing=(1.1, 0.8, 4.0))
    first, _ = predict_volume(image, model, card, InferenceOptions(device="cpu", batch_size=2))
    second, _ = predict_volume(image, model, card, InferenceOptions(device="cpu", batch_size=2))
    np.testing.assert_array_equal(first, second)
    assert first.shape == sitk.GetArrayViewFromImage(image).shape


def test_device_resolution_and_oom_detection() -> None:
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match="unknown device"):
        resolve_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            resolve_device("cuda")
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_model_output_of_the_wrong_shape_is_an_error(make_card) -> None:
    contract = make_card("segmentation", input=dict(size=None)).contract
    with pytest.raises(ModelError, match="model output has shape"):
        SliceEngine(Recorder(1), contract, InferenceOptions(device="cpu")).run(
            np.zeros((1, 8, 8), np.int16), np.zeros((1, 8, 8), np.uint8), (1.0, 1.0)
        )


def test_memory_is_bounded_by_the_batch_not_the_volume(make_card) -> None:
    """numpy memory of a run: the uint8 labelmap plus a few batches, never a float copy of the volume."""
    import tracemalloc

    card = make_card(input=dict(size=None))
    image = sitk.GetImageFromArray(np.random.default_rng(5).integers(-500, 500, size=(64, 256, 256)).astype(np.int16))
    options = InferenceOptions(device="cpu", batch_size=4)
    predict_volume(sitk.GetImageFromArray(np.zeros((2, 8, 8), np.int16)), Recorder(3), card, options)  # lazy imports
    tracemalloc.start()
    try:
        labels, _ = predict_volume(image, Recorder(3), card, options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    float_volume = labels.size * 4
    assert labels.dtype == np.uint8
    assert peak < labels.nbytes + float_volume // 4  # one float32 copy of the volume alone would be 4x labels


def test_fast_argmax_matches_torch_including_ties() -> None:
    from condswin.inference.engine import _argmax_labels

    scores = torch.randint(0, 3, (4, 5, 16, 16)).float()  # many exact ties: the first maximum must win
    np.testing.assert_array_equal(_argmax_labels(scores).numpy(), scores.argmax(dim=1).numpy().astype(np.uint8))


def test_user_caused_problems_are_family_errors(make_card) -> None:
    """A wrong image, a model for another job, an absurd spacing or batch size: the family, not ValueError."""
    card = make_card(input=dict(size=None))
    flat = sitk.GetImageFromArray(np.zeros((8, 8), np.int16))  # a 2-D image
    with pytest.raises(InputError, match="scalar 3-D image, got 2-D"):
        segment_image(flat, Recorder(3), card)
    vector = sitk.GetImageFromArray(np.zeros((2, 8, 8, 3), np.float32), isVector=True)
    with pytest.raises(InputError, match="3 component"):
        predict_volume(vector, Recorder(3), card)
    with pytest.raises(ModelError, match="is a denoising model, not a segmentation model"):
        segment_image(_oblique_image(), Recorder(1), make_card("denoising"))
    with pytest.raises(UsageError, match="batch size"):
        SliceEngine(Recorder(3), card.contract, InferenceOptions(device="cpu", batch_size=0))
    # 100 mm "pixels" at a 0.5 mm model grid would be 10000 pixels a side: refused before any resize
    fine = make_card(input=dict(size=None, pixel_size_mm=[0.5, 0.5]))
    coarse = _oblique_image(shape_zyx=(2, 50, 50), spacing=(100.0, 100.0, 1.0))
    model = Recorder(3)
    with pytest.raises(InputError, match="10000x10000"):
        predict_volume(coarse, model, fine, InferenceOptions(device="cpu"))
    assert model.calls == []


class DtypeRecorder(nn.Module):
    """A 1x1 convolution that records the dtype its output is computed in."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        self.dtypes: list[torch.dtype] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        self.dtypes.append(y.dtype)
        return y


@pytest.mark.parametrize(
    ("native", "card_allows", "amp", "expected"),
    [
        (True, True, True, torch.bfloat16),
        (True, False, True, torch.float32),  # the card decides: not measured in bf16, not run in bf16
        (False, True, True, torch.float32),  # emulated bf16 is slower than float32
        (True, True, False, torch.float32),  # --no-amp
    ],
)
def test_cpu_bf16_only_where_the_card_allows_it_and_the_cpu_has_it(
    make_card, monkeypatch, native: bool, card_allows: bool, amp: bool, expected: torch.dtype
) -> None:
    from condswin.bundles import parse_card
    from condswin.inference import device as device_module

    fields = make_card("denoising").to_dict()
    if card_allows:
        fields["inference"] = {"cpu_bf16": True}
    card = parse_card(fields, "test card", require_weights=False)
    assert card.contract.cpu_bf16 is card_allows
    assert ("inference" in card.to_dict()) is card_allows  # survives the round trip, absent by default
    monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: native)
    model = DtypeRecorder()
    out = np.zeros((2, 8, 8), dtype=np.float32)
    volume = np.random.default_rng(0).random((2, 8, 8), dtype=np.float32)
    SliceEngine(model, card.contract, InferenceOptions(device="cpu", amp=amp)).run(volume, out, (1.0, 1.0), None)
    assert model.dtypes == [expected]
    assert out.dtype == np.float32 and np.isfinite(out).all()


def test_card_inference_section_is_checked(make_card) -> None:
    from condswin.bundles import BundleError, parse_card

    fields = make_card("denoising").to_dict()
    for bad, message in (({"cpu_bf16": "yes"}, "must be true or false"), ({"fp8": True}, "unknown key")):
        fields["inference"] = bad
        with pytest.raises(BundleError, match=message):
            parse_card(fields, "test card", require_weights=False)
