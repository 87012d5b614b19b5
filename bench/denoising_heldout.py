"""The denoising default against the classical filters on its held-out real MR volumes: tables and a figure.

The numbers are the installed default's card (``metrics.held_out``): they were measured when it was embedded,
in one run on this kind of machine — every method on the very same noisy volume (Rician noise at each σ, seeded
by case and σ), classical methods with the σ they estimate from the air background and the Rician bias
correction, speeds as wall seconds per slice. This script arranges them per volume and σ, checks them against
the denoising targets, and draws one slice per held-out volume (noisy, BM3D, the model, their error maps).

    python bench/denoising_heldout.py --out bench/benchreport/denoising_heldout.md   # the section make bench includes
    python bench/denoising_heldout.py --figure docs/denoising_heldout.png --shared ../shared/data

Prints Markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a source checkout without installing the package
    sys.path.insert(0, str(ROOT))

# The classical methods shown beside the model, in this order (those on the card).
CLASSICAL = ("bm3d", "nlm", "gaussian")
NOISY = "noisy input"
# The σ the figure shows, and the held-out files it reads (relative to the shared data folder).
FIGURE_SIGMA = 0.05
FIGURE_FILES = ("mri/brain1_t1gd.nii.gz", "mri/adi_brain_t2_fse.nii.gz")


def _sigma_of(setting: str) -> float:
    return float(setting.rsplit("=", 1)[1])


def held_out_rows(card: dict[str, Any]) -> dict[str, dict[tuple[str, float], dict[str, float]]]:
    """``{case: {(method, σ): metrics}}`` from the card's held-out records."""
    table: dict[str, dict[tuple[str, float], dict[str, float]]] = defaultdict(dict)
    for record in card.get("metrics", {}).get("held_out", []):
        for row in record.get("per_volume", []):
            table[row["case"]][row["method"], _sigma_of(row["setting"])] = row["metrics"]
    return table


def _cell(metrics: dict[str, float] | None, key: str, fmt: str) -> str:
    value = None if metrics is None else metrics.get(key)
    return "—" if value is None else format(value, fmt)


def case_table(model: str, rows: dict[tuple[str, float], dict[str, float]]) -> str:
    """One volume: a row per method, SSIM and PSNR per σ, seconds per slice."""
    sigmas = sorted({sigma for _, sigma in rows})
    head = ["Method", *(f"SSIM {s:.1%}" for s in sigmas), *(f"PSNR {s:.1%} (dB)" for s in sigmas), "s/slice"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for method in (NOISY, model, *CLASSICAL):
        if not any((method, s) in rows for s in sigmas):
            continue
        speeds = [rows[method, s].get("seconds_per_slice") for s in sigmas if (method, s) in rows]
        speeds = [v for v in speeds if v is not None]
        speed = f"{sum(speeds) / len(speeds):.3f}" if speeds else "—"
        name = f"**{method}**" if method == model else method
        cells = [_cell(rows.get((method, s)), "ssim", ".4f") for s in sigmas]
        cells += [_cell(rows.get((method, s)), "psnr", ".2f") for s in sigmas]
        lines.append("| " + " | ".join([name, *cells, speed]) + " |")
    return "\n".join(lines) + "\n"


def target_checks(model: str, table: dict[str, dict[tuple[str, float], dict[str, float]]]) -> list[tuple[str, str]]:
    """(target, what was measured and whether it holds) for the denoising targets, per held-out volume."""
    checks = []
    for case, rows in sorted(table.items()):

        def metric(method: str, sigma: float, key: str, rows=rows) -> float | None:
            return rows.get((method, sigma), {}).get(key)

        for sigma, rival in ((0.05, "bm3d"), (0.1, "bm3d"), (0.025, "gaussian")):
            mine, theirs = metric(model, sigma, "ssim"), metric(rival, sigma, "ssim")
            if mine is None or theirs is None:
                continue
            verdict = "met" if mine > theirs else f"missed by {theirs - mine:.4f}"
            checks.append((f"{case}: SSIM above {rival} at σ {sigma:.1%}", f"{mine:.4f} vs {theirs:.4f}: {verdict}"))
        gaps = [
            (metric("bm3d", s, "psnr") - metric(model, s, "psnr"), s)
            for (method, s) in rows
            if method == model and metric("bm3d", s, "psnr") is not None
        ]
        if gaps:
            worst, at = max(gaps)
            verdict = "met" if worst <= 0.5 else f"missed by {worst - 0.5:.2f} dB"
            checks.append((f"{case}: PSNR at most 0.5 dB below BM3D", f"worst {worst:+.2f} dB (σ {at:.1%}): {verdict}"))
        speeds = [
            metric("bm3d", s, "seconds_per_slice") / metric(model, s, "seconds_per_slice")
            for (method, s) in rows
            if method == model and metric("bm3d", s, "seconds_per_slice") and metric(model, s, "seconds_per_slice")
        ]
        if speeds:
            ratio = min(speeds)
            verdict = "met" if ratio >= 50 else f"missed ({ratio:.0f}×)"
            checks.append((f"{case}: at least 50× BM3D's speed per slice", f"{ratio:.0f}× (slowest σ): {verdict}"))
    return checks


def section(card: dict[str, Any], figure: str | None) -> str:
    """The Markdown section: provenance, the targets, one table per held-out volume, the figure."""
    model = card["id"]
    table = held_out_rows(card)
    if not table:
        return f"The default `{model}` has no held-out records on its card.\n"
    runs = card.get("training", {}).get("lineage", {}).get("runs", [])
    when = f"after its training run of {runs[-1]['started'][:10]}" if runs and runs[-1].get("started") else ""
    parts = [
        f"From the card of the default `{model}` (measured when it was embedded {when}; Rician noise, "
        "classical methods with the σ they estimate and the Rician bias correction; s/slice: wall seconds per "
        "slice of the whole job on this machine's 2 cores, one run for all methods).\n",
        "\n| target | measured |\n|---|---|\n",
        "".join(f"| {a} | {b} |\n" for a, b in target_checks(model, table)),
    ]
    for case, rows in sorted(table.items()):
        parts.append(f"\n#### {case}\n\n" + case_table(model, rows))
    if figure:
        parts.append(
            f"\n![noisy, BM3D and the model on one slice of each held-out volume]({figure})\n\n"
            f"One slice per held-out volume at Rician σ {FIGURE_SIGMA:.0%}: the clean reference, the noisy input, "
            "BM3D (with the σ estimated from the whole noisy volume's air), the model, and both absolute errors on one scale.\n"
        )
    return "".join(parts)


def draw_figure(model_id: str, shared: Path, out: Path) -> None:
    """One row per held-out volume: clean, noisy, BM3D, model, |BM3D − clean|, |model − clean|."""
    import numpy as np
    import SimpleITK as sitk

    from condswin.bundles import load_bundle, resolve_bundle
    from condswin.evaluation.figures import ERROR_CMAP, Panel, draw_panels, save_figure
    from condswin.evaluation.slices import representative_slice
    from condswin.inference import InferenceOptions
    from condswin.io.images import read_image
    from condswin.jobs import denoise
    from condswin.mri.noise import estimate_rician_sigma
    from condswin.training.evaluation.denoising import noisy_volume

    loaded = load_bundle(resolve_bundle(model_id))
    options = InferenceOptions(device="cpu")
    files = [shared / name for name in FIGURE_FILES if (shared / name).is_file()]
    if not files:
        raise FileNotFoundError(f"{shared}: none of {', '.join(FIGURE_FILES)} is here; the figure needs them")
    rows = []
    for path in files:
        image = read_image(path)
        clean = sitk.GetArrayFromImage(image).astype(np.float32)
        noisy = noisy_volume(clean, "rician", FIGURE_SIGMA, 0, path.name)
        index = representative_slice(clean, labels=False)
        noisy_image = sitk.GetImageFromArray(noisy)
        noisy_image.CopyInformation(image)
        model_out = sitk.GetArrayFromImage(denoise(noisy_image, loaded, options, noise="rician").output)[index]
        # BM3D on the shown slice alone, with the σ the whole-volume job estimates (one slice's air is too little)
        sigma = estimate_rician_sigma(noisy)
        one = sitk.GetImageFromArray(noisy[index : index + 1])
        bm3d_out = sitk.GetArrayFromImage(denoise(one, "bm3d", options, noise="rician", sigma=sigma).output)[0]
        top = float(np.percentile(clean[index], 99.5))
        err_top = 0.2 * top
        rows.append(
            [
                Panel(f"{path.name.split('.')[0]}: clean", clean[index], vmin=0, vmax=top),
                Panel("noisy", noisy[index], vmin=0, vmax=top),
                Panel("BM3D", bm3d_out, vmin=0, vmax=top),
                Panel(model_id, model_out, vmin=0, vmax=top),
                Panel("|BM3D − clean|", np.abs(bm3d_out - clean[index]), cmap=ERROR_CMAP, vmin=0, vmax=err_top),
                Panel("|model − clean|", np.abs(model_out - clean[index]), cmap=ERROR_CMAP, vmin=0, vmax=err_top),
            ]
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    save_figure(draw_panels(rows), out, dpi=90)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="write the Markdown section here (default: print it)")
    parser.add_argument("--figure", type=Path, help="draw the figure here (needs the held-out volumes)")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data", help="real samples folder")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from condswin.training.embedding import current_default

    args = parse_args(argv)
    bundle = current_default("denoising", None)
    if bundle is None:
        print("no denoising default is installed", file=sys.stderr)
        return 1
    card = bundle.card.to_dict()
    figure_link = None
    if args.figure is not None:
        draw_figure(card["id"], args.shared, args.figure)
        figure_link = os.path.relpath(args.figure.resolve(), ROOT / "docs")  # the link as docs/benchmarks.md sees it
    text = section(card, figure_link)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
