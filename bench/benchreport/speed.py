"""Speed: each installed model's network latency (ms per slice, batch 1 and 8) and its whole job on the embedded
sample data (seconds per volume), in float32 and — on CPUs with native bf16 — in bf16 autocast, with the
metric change bf16 costs on the same input; the classical denoisers' seconds per slice for comparison.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[2] / "Resources" / "SampleData"
CLASSICAL = ("gaussian", "tv", "wavelet", "nlm", "bm3d")


def _with_bf16(loaded: Any, enabled: bool) -> Any:
    """The same network with a card that allows (or forbids) CPU bf16."""
    from condswin.bundles.store import LoadedModel

    card = loaded.card.replace(contract=dataclasses.replace(loaded.card.contract, cpu_bf16=enabled))
    return LoadedModel(model=loaded.model, bundle=dataclasses.replace(loaded.bundle, card=card))


def _grid(card: Any) -> tuple[int, int]:
    return tuple(card.contract.size) if card.contract.size is not None else (256, 256)


def network_ms(loaded: Any, batch: int, bf16: bool, repeats: int) -> float:
    """Median ms per slice of the bare network at the card's grid (random input; weights do not change timing)."""
    import torch

    from condswin.models.data_consistency import is_data_consistent

    model = loaded.model.eval()
    x = torch.randn(batch, loaded.card.in_channels, *_grid(loaded.card))
    extra = (torch.ones(x.shape[-1]),) if is_data_consistent(model) else ()
    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        model(x, *extra)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x, *extra)
            times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times) / batch


def _sample(name: str) -> Any:
    from condswin.io import read_image

    return read_image(SAMPLES / name)


def run_job(task: str, loaded: Any) -> tuple[float, int, dict[str, float]]:
    """(seconds, slices, metrics) of the task's job on the embedded sample (model load not included)."""
    import numpy as np
    import SimpleITK as sitk

    from condswin.inference import InferenceOptions
    from condswin.jobs import denoise, reconstruct_file, segment
    from condswin.lits import BACKGROUND, TUMOUR
    from condswin.metrics import dice, reconstruction_metrics
    from condswin.mri.masks import MaskSpec

    options = InferenceOptions(device="cpu")
    start = time.perf_counter()
    if task == "segmentation":
        image = _sample("phantom_ct.nii.gz")
        result = segment(image, loaded, options)
        seconds = time.perf_counter() - start
        pred = sitk.GetArrayViewFromImage(result.output)
        ref = sitk.GetArrayViewFromImage(_sample("phantom_ct_labels.nii.gz"))
        whole_liver = dice(pred != BACKGROUND, ref != BACKGROUND)  # liver parenchyma and its tumours
        metrics = {"liver_dice": whole_liver, "tumour_dice": dice(pred == TUMOUR, ref == TUMOUR)}
        return seconds, image.GetSize()[2], metrics
    if task == "reconstruction":
        result = reconstruct_file(
            SAMPLES / "mni152_t1_crop_singlecoil.h5", loaded, options, mask=MaskSpec(acceleration=4.0)
        )
        seconds = time.perf_counter() - start
        return seconds, result.details.image.shape[0], dict(result.details.metrics["model"])
    image = _sample("mni152_t1_crop_rician5.nii.gz")
    result = denoise(image, loaded, options)
    seconds = time.perf_counter() - start
    clean = sitk.GetArrayFromImage(_sample("mni152_t1_crop.nii.gz")).astype(np.float32)
    metrics = reconstruction_metrics(clean, sitk.GetArrayFromImage(result.output).astype(np.float32))
    return seconds, image.GetSize()[2], dict(metrics)


def classical_seconds_per_slice(methods: tuple[str, ...]) -> dict[str, float]:
    """Seconds per slice of each classical denoiser on the noisy sample (σ estimated, Rician)."""
    from condswin.jobs import denoise

    image = _sample("mni152_t1_crop_rician5.nii.gz")
    out = {}
    for method in methods:
        start = time.perf_counter()
        denoise(image, method, noise="rician")
        out[method] = (time.perf_counter() - start) / image.GetSize()[2]
    return out


def run(quick: bool, log: Any = print) -> dict[str, Any]:
    """Every installed model's latency and job time (fp32 and, with native bf16, bf16); classical timings."""
    from condswin.bundles import discover_bundles, load_bundle
    from condswin.inference.device import cpu_has_native_bf16

    precisions = ("fp32", "bf16") if cpu_has_native_bf16() else ("fp32",)
    repeats = 3 if quick else 7
    rows = []
    for bundle in discover_bundles()[0]:
        loaded = load_bundle(bundle)
        row: dict[str, Any] = {
            "model": bundle.id,
            "task": bundle.task,
            "grid": list(_grid(bundle.card)),
            "params_m": sum(p.numel() for p in loaded.model.parameters()) / 1e6,
            "card_cpu_bf16": bundle.card.contract.cpu_bf16,
        }
        for precision in precisions:
            bf16 = precision == "bf16"
            log(f"speed: {bundle.id} {precision}")
            for batch in (1, 8):
                row[f"ms_b{batch}_{precision}"] = network_ms(loaded, batch, bf16, repeats)
            seconds, slices, metrics = run_job(bundle.task, _with_bf16(loaded, bf16))
            row[f"job_s_{precision}"], row["job_slices"], row[f"job_metrics_{precision}"] = seconds, slices, metrics
        rows.append(row)
    log("speed: classical denoisers")
    classical = classical_seconds_per_slice(("gaussian", "tv") if quick else CLASSICAL)
    return {"precisions": list(precisions), "models": rows, "classical_s_per_slice": classical}
