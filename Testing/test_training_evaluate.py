"""``Training/evaluate.py``: per-volume rows equal to :mod:`condswin.metrics` on what the jobs return, the
summary means over volumes, the montage and curve figures, and bad input ending before any work.

Tiny data in the real formats, written here: LiTS NIfTI case pairs of 3 slices, fastMRI single-coil h5 files
(and a test file without target), MR NIfTI volumes; tiny untrained bundles from ``conftest.py``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from model_support import script_main

from condswin.bundles import load_bundle, read_bundle
from condswin.ct.phantom import make_phantom
from condswin.ct.report import measures_against_reference
from condswin.inference import volume_seed
from condswin.jobs import denoise, reconstruct_file, reconstruct_image, segment
from condswin.metrics import mark_absent, reconstruction_metrics, segmentation_metrics
from condswin.mri.fastmri import write as write_fastmri
from condswin.mri.kspace import center_crop, simulate_singlecoil_kspace
from condswin.mri.masks import MaskSpec, fastmri_seed
from condswin.training.evaluation import EvaluationRequest, run_evaluation
from condswin.training.evaluation.denoising import noisy_volume

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("nmse", "psnr", "ssim", "mae")

pytestmark = pytest.mark.usefixtures("single_torch_thread")


evaluate_main = script_main("evaluate")


# --- data ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lits_root(tmp_path_factory) -> Path:
    """Two LiTS case pairs of 3 axial slices each (the phantom's liver-richest slices)."""
    root = tmp_path_factory.mktemp("lits")
    for index in range(2):
        ct, labels = make_phantom(30 + index, shape=(32, 32, 8), spacing=(10.0, 10.0, 12.0), num_tumours=1)
        liver = (sitk.GetArrayViewFromImage(labels) > 0).sum(axis=(1, 2))
        first = int(np.clip(np.argmax(liver) - 1, 0, 5))
        sitk.WriteImage(ct[:, :, first : first + 3], str(root / f"volume-{index}.nii.gz"))
        sitk.WriteImage(labels[:, :, first : first + 3], str(root / f"segmentation-{index}.nii.gz"))
        if index == 1:  # a test-set volume: no labels, so it cannot be scored
            sitk.WriteImage(ct[:, :, first : first + 3], str(root / "volume-2.nii.gz"))
    return root


@pytest.fixture(scope="module")
def fastmri_root(tmp_path_factory) -> Path:
    """Two single-coil validation files with targets, and a test file (mask, no target) to be left out."""
    root = tmp_path_factory.mktemp("singlecoil_val")
    rng = np.random.default_rng(0)
    for name in ("file1000001", "file1000002"):
        magnitude = np.zeros((3, 48, 32), dtype=np.float32)
        magnitude[:, 12:36, 6:26] = 1.0 + rng.random((3, 24, 20), dtype=np.float32)
        kspace = simulate_singlecoil_kspace(magnitude, seed=int(rng.integers(1000)))
        write_fastmri(root / f"{name}.h5", kspace, np.ascontiguousarray(center_crop(magnitude, (32, 32))))
    mask = np.zeros(32, dtype=bool)
    mask[::4] = True
    write_fastmri(root / "file1000003.h5", np.ones((3, 48, 32), np.complex64), mask=mask)
    return root


@pytest.fixture(scope="module")
def mr_root(tmp_path_factory, mr_volume) -> Path:
    """Two MR magnitude volumes with an air background (3 slices of 32 x 32)."""
    root = tmp_path_factory.mktemp("mr")
    for index in range(2):
        image = sitk.GetImageFromArray(mr_volume(3, 32, scale=100.0 + 50 * index))
        image.SetSpacing((0.9, 0.8, 3.0))
        sitk.WriteImage(image, str(root / f"subject{index}.nii.gz"))
    return root


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _row(rows: list[dict[str, str]], case: str, method: str, setting: str = "") -> dict[str, str]:
    found = [r for r in rows if r["case"] == case and r["method"] == method and r["setting"] == setting]
    assert len(found) == 1, (case, method, setting, rows)
    return found[0]


def _assert_metrics(row: dict[str, str], expected: dict[str, float], prefix: str = "") -> None:
    for key, value in expected.items():
        if key in ("absent",):
            continue
        cell = row[f"{prefix}{key}"]
        if value is None or (isinstance(value, float) and np.isnan(value)):
            assert cell == "", (key, cell)
        else:
            assert float(cell) == pytest.approx(value, rel=1e-9, abs=1e-12), key


def _markdown_cell(markdown: str, method: str, setting: str, column: str) -> str:
    """The cell of a method's row (under a setting) in the first table of ``markdown`` with that column."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Method") and f" {column} " in line)
    head = [c.strip() for c in lines[start].strip("|").split("|")]
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == method and (not setting or cells[head.index("Setting")] == setting):
            return cells[head.index(column)]
    raise AssertionError(f"no row {method} {setting} in\n{markdown}")


def _mean_std(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std())  # population std, as fastMRI's evaluate.py


# --- reconstruction -----------------------------------------------------------------------------------------


def test_reconstruction_on_fastmri_rows_are_the_jobs_volumes_scored_by_condswin_metrics(
    fastmri_root, tiny_bundles, tmp_path
):
    out = tmp_path / "out"
    request = EvaluationRequest(
        "reconstruction",
        fastmri_root,
        models=(str(tiny_bundles["reconstruction"]),),
        baselines=("zero-filled",),
        accelerations=(4.0, 8.0),
        out=out,
    )
    result = run_evaluation(request, log=lambda line: None)
    rows = _read_csv(out / "metrics.csv")
    assert len(rows) == 2 * 2 * 2  # cases x methods x accelerations; the test file left out
    assert {r["case"] for r in rows} == {"file1000001", "file1000002"}
    loaded = load_bundle(read_bundle(tiny_bundles["reconstruction"]))
    for case in ("file1000001", "file1000002"):
        for acceleration, setting in ((4.0, "4x"), (8.0, "8x")):
            path = fastmri_root / f"{case}.h5"
            zero_filled = reconstruct_file(
                path, None, mask=MaskSpec(acceleration=acceleration)
            )  # the per-file seeded mask
            _assert_metrics(_row(rows, case, "zero-filled", setting), zero_filled.report["metrics"]["zero_filled"])
            model = reconstruct_file(path, loaded, mask=MaskSpec(acceleration=acceleration)).details
            expected = reconstruction_metrics(model.target, model.image)
            _assert_metrics(_row(rows, case, "tiny-reconstruction", setting), expected)
            assert float(_row(rows, case, "tiny-reconstruction", setting)["acceleration_used"]) == pytest.approx(
                model.acceleration, abs=1e-4
            )
    markdown = (out / "metrics.md").read_text(encoding="utf-8")
    for method in ("zero-filled", "tiny-reconstruction"):
        values = [float(r["psnr"]) for r in rows if r["method"] == method and r["setting"] == "8x"]
        mean, std = _mean_std(values)
        assert _markdown_cell(markdown, method, "8x", "PSNR (dB)") == f"{mean:.2f} ± {std:.2f}"
    assert "file1000003.h5: no reconstruction target" in markdown
    # montage: 2 cases x 2 accelerations rows; input, reference, 2 methods, 2 error maps
    assert len(result.montage.axes) == 4 * 6
    png = sitk.ReadImage(str(out / "montage_reconstruction.png"))
    width, height = result.montage.get_size_inches() * 100
    assert png.GetSize()[:2] == (round(width), round(height))


def test_reconstruction_of_mr_volumes_uses_the_seeds_of_condswin_reconstruct(mr_root, tmp_path):
    out = tmp_path / "out"
    code = evaluate_main(
        ["--task", "reconstruction", "--data", str(mr_root), "--baseline", "zero-filled", "--acceleration", "4",
         "--out", str(out), "--montage-cases", "0"]
    )  # fmt: skip
    assert code == 0
    rows = _read_csv(out / "metrics.csv")
    assert [(r["case"], r["setting"]) for r in rows] == [("subject0", "4x"), ("subject1", "4x")]
    assert not (out / "montage_reconstruction.png").exists()
    for name in ("subject0", "subject1"):
        path = mr_root / f"{name}.nii.gz"
        image = sitk.ReadImage(str(path))
        job = reconstruct_image(image, None, mask=MaskSpec(seed=fastmri_seed(path.name)), phase_seed=volume_seed(path))
        _assert_metrics(_row(rows, name, "zero-filled", "4x"), job.report["metrics"]["zero_filled"])


def test_reconstruction_tables_show_compressed_sensing_beside_zero_filled_with_seconds_per_slice(mr_root, tmp_path):
    from condswin.inference import InferenceOptions
    from condswin.training.evaluation.cases import EvalCase
    from condswin.training.evaluation.methods import resolve_methods
    from condswin.training.evaluation.reconstruction import score_reconstruction_case
    from condswin.training.evaluation.request import Setting

    out = tmp_path / "out"
    code = evaluate_main(
        ["--task", "reconstruction", "--data", str(mr_root), "--baseline", "zero-filled", "cs-tv", "cs-wavelet",
         "--acceleration", "4", "--out", str(out), "--montage-cases", "0"]
    )  # fmt: skip
    assert code == 0
    rows = _read_csv(out / "metrics.csv")
    for name in ("subject0", "subject1"):
        path = mr_root / f"{name}.nii.gz"
        seeds = {"mask": MaskSpec(seed=fastmri_seed(path.name)), "phase_seed": volume_seed(path)}
        for method in ("cs-tv", "cs-wavelet"):
            job = reconstruct_image(sitk.ReadImage(str(path)), method, **seeds)  # the defaults of condswin reconstruct
            row = _row(rows, name, method, "4x")
            _assert_metrics(row, job.report["metrics"]["model"])
            assert float(row["psnr"]) > float(_row(rows, name, "zero-filled", "4x")["psnr"])
        for method in ("zero-filled", "cs-tv", "cs-wavelet"):
            assert 0 < float(_row(rows, name, method, "4x")["seconds_per_slice"]) < 60
    markdown = (out / "metrics.md").read_text(encoding="utf-8")
    assert _markdown_cell(markdown, "cs-wavelet", "4x", "s/slice") != "n/a"

    # the montage's input column is the zero-filled image, not the last baseline scored
    methods = resolve_methods("reconstruction", (), ("zero-filled", "cs-tv"))
    case = EvalCase("subject0", mr_root / "subject0.nii.gz")
    outcome = score_reconstruction_case(
        case, "mr_volumes", methods, [Setting("4x", acceleration=4.0)], InferenceOptions(device="cpu"), montage=True
    )
    shown = outcome.montage[0]
    np.testing.assert_array_equal(shown.input, shown.outputs["zero-filled"])
    assert not np.array_equal(shown.input, shown.outputs["cs-tv"])


# --- segmentation -------------------------------------------------------------------------------------------


def test_segmentation_scores_whole_volumes_per_class(lits_root, tiny_bundles, tmp_path):
    out = tmp_path / "out"
    request = EvaluationRequest(
        "segmentation", lits_root, models=(str(tiny_bundles["segmentation"]),), out=out, montage_cases=2
    )
    lines: list[str] = []
    result = run_evaluation(request, log=lines.append)
    rows = _read_csv(out / "metrics.csv")
    assert [r["case"] for r in rows] == ["0", "1"]
    # progress names the classes only (the volume and count measures are no class)
    scored = [line for line in lines if "tiny-segmentation: " in line]
    assert len(scored) == 2 and all("liver Dice" in line and "measures" not in line for line in scored)
    loaded = load_bundle(read_bundle(tiny_bundles["segmentation"]))
    dice = []
    for case in ("0", "1"):
        ct = sitk.ReadImage(str(lits_root / f"volume-{case}.nii.gz"))
        reference = sitk.GetArrayFromImage(sitk.ReadImage(str(lits_root / f"segmentation-{case}.nii.gz")))
        predicted = sitk.GetArrayFromImage(segment(ct, loaded).output)
        spacing = tuple(reversed(ct.GetSpacing()))
        expected = mark_absent(
            segmentation_metrics(predicted, reference, labels={1: "liver", 2: "tumour"}, spacing=spacing)
        )
        row = _row(rows, case, "tiny-segmentation")
        for name in ("liver", "tumour"):
            _assert_metrics(row, expected[name], prefix=f"{name}_")
        measures = measures_against_reference(predicted, reference, ct.GetSpacing())
        assert float(row["measures_liver_ml"]) == pytest.approx(measures["liver_ml"])
        assert int(row["measures_reference_tumour_count"]) == measures["reference_tumour_count"]
        assert float(row["measures_organ_dice"]) == pytest.approx(measures["organ_dice"])
        assert float(row["measures_seconds_per_volume"]) > 0
        dice.append(expected["liver"]["dice"])
    markdown = (out / "metrics.md").read_text(encoding="utf-8")
    assert "### liver" in markdown and "### tumour" in markdown
    assert "volume-2.nii.gz: no label map, left out" in markdown
    mean, std = _mean_std(dice)
    assert _markdown_cell(markdown, "tiny-segmentation", "", "Dice") == f"{mean:.4f} ± {std:.4f}"
    # montage: 2 cases; CT, reference, the model's labels, its error map
    assert len(result.montage.axes) == 2 * 4
    assert (out / "montage_segmentation.png").is_file()


# --- denoising ----------------------------------------------------------------------------------------------


def test_denoising_gives_every_method_the_same_seeded_noisy_volume(mr_root, tiny_bundles, tmp_path):
    out = tmp_path / "out"
    request = EvaluationRequest(
        "denoising",
        mr_root,
        models=(str(tiny_bundles["denoising"]),),
        baselines=("gaussian", "tv"),
        noise="rician",
        sigmas=(0.05, 0.1),
        out=out,
        limit=1,
    )
    lines: list[str] = []
    result = run_evaluation(request, log=lines.append)
    assert lines[0] == "[1/1] subject0" and sum(": PSNR " in line for line in lines) == 8  # a line per row
    rows = _read_csv(out / "metrics.csv")
    methods = ["noisy input", "tiny-denoising", "gaussian", "tv"]
    settings = ["rician sigma=0.05", "rician sigma=0.1"]
    assert [(r["setting"], r["method"]) for r in rows] == [(s, m) for s in settings for m in methods]
    path = mr_root / "subject0.nii.gz"
    image = sitk.ReadImage(str(path))
    clean = sitk.GetArrayFromImage(image).astype(np.float32)
    loaded = load_bundle(read_bundle(tiny_bundles["denoising"]))
    for sigma, setting in zip((0.05, 0.1), settings, strict=True):
        noisy = noisy_volume(clean, "rician", sigma, 0, "subject0")
        assert np.std(noisy - clean) > 0.5 * sigma * clean.max()  # the noise has the requested level
        noisy_image = sitk.GetImageFromArray(noisy)
        noisy_image.CopyInformation(image)
        _assert_metrics(_row(rows, "subject0", "noisy input", setting), reconstruction_metrics(clean, noisy))
        for method in ("gaussian", "tv", loaded):
            job = denoise(noisy_image, method, noise="rician")
            name = method if isinstance(method, str) else "tiny-denoising"
            expected = reconstruction_metrics(clean, sitk.GetArrayFromImage(job.output))
            _assert_metrics(_row(rows, "subject0", name, setting), expected)
        assert float(_row(rows, "subject0", "tv", setting)["sigma_used"]) == pytest.approx(
            denoise(noisy_image, "tv", noise="rician").sigma
        )
    markdown = (out / "metrics.md").read_text(encoding="utf-8")
    assert "| Method | Setting | Cases | SSIM | PSNR (dB) |" in markdown
    assert len(result.montage.axes) == 2 * (2 + 2 * 3)  # 1 case x 2 sigmas; noisy, reference, 3 methods, 3 errors


def test_denoising_times_a_learned_model_after_one_untimed_slice(mr_root, tiny_bundles, tmp_path, monkeypatch):
    """A model's first call on a slice size is slow (kernel selection, allocator): it must not land in a timing."""
    import condswin.jobs

    calls: list[tuple[str, int]] = []  # (method, slices) of every denoising job, in order
    job = condswin.jobs.denoise

    def recording(image, method, *args, **kwargs):
        calls.append((method if isinstance(method, str) else method.card.id, image.GetSize()[2]))
        return job(image, method, *args, **kwargs)

    monkeypatch.setattr(condswin.jobs, "denoise", recording)
    request = EvaluationRequest(
        "denoising",
        mr_root,
        models=(str(tiny_bundles["denoising"]),),
        baselines=("gaussian",),
        noise="rician",
        sigmas=(0.05,),
        out=tmp_path / "out",
        limit=1,
    )
    run_evaluation(request, log=lambda line: None)
    depth = sitk.ReadImage(str(mr_root / "subject0.nii.gz")).GetSize()[2]
    assert calls == [("tiny-denoising", 1), ("tiny-denoising", depth), ("gaussian", depth)], (
        "one untimed slice through the model, then its timed volume; classical methods have no start-up to pay"
    )


def test_classical_scores_are_read_back_for_the_same_input_and_timed_again(mr_root, tmp_path):
    """With a baseline cache the second run reuses a classical method's scores of the very same noisy volume
    (a tampered entry shows through), still measures its speed, and a different input (another seed) misses."""
    cache = tmp_path / "cache"

    def run(out: str, seed: int = 0) -> list[dict[str, str]]:
        request = EvaluationRequest(
            "denoising",
            mr_root,
            baselines=("gaussian",),
            sigmas=(0.05,),
            out=tmp_path / out,
            limit=1,
            montage_cases=0,
            seed=seed,
            baseline_cache=cache,
        )
        run_evaluation(request, log=lambda line: None)
        return _read_csv(tmp_path / out / "metrics.csv")

    first = _row(run("first"), "subject0", "gaussian", "rician sigma=0.05")
    entries = sorted(cache.glob("*.json"))
    assert len(entries) == 1 and not first.get("scores_from_cache")
    again = _row(run("again"), "subject0", "gaussian", "rician sigma=0.05")
    assert again["scores_from_cache"] == "True" and again["timed_slices"] == "3"
    assert again["psnr"] == first["psnr"] and again["ssim"] == first["ssim"] and float(again["seconds_per_slice"]) > 0
    record = json.loads(entries[0].read_text())
    record["metrics"]["psnr"] = 123.0
    entries[0].write_text(json.dumps(record))
    assert float(_row(run("tampered"), "subject0", "gaussian", "rician sigma=0.05")["psnr"]) == 123.0
    other = _row(run("other", seed=1), "subject0", "gaussian", "rician sigma=0.05")
    assert not other.get("scores_from_cache") and float(other["psnr"]) != 123.0
    assert len(list(cache.glob("*.json"))) == 2


def test_a_cached_method_is_timed_on_middle_slices_without_air(tmp_path):
    """The timed middle slices of a cached run may be all tissue: they take the σ the whole volume gave."""
    folder = tmp_path / "mr"
    folder.mkdir()
    volume = np.zeros((9, 40, 36), dtype=np.float32)
    volume[:, 8:32, 6:30] = 150.0
    volume[3:6] = 150.0  # the three middle slices: tissue to the edge, no air to estimate the noise from
    sitk.WriteImage(sitk.GetImageFromArray(volume), str(folder / "subject0.nii.gz"))

    def run(out: str) -> dict[str, str]:
        request = EvaluationRequest(
            "denoising",
            folder,
            baselines=("gaussian",),
            sigmas=(0.05,),
            out=tmp_path / out,
            montage_cases=0,
            baseline_cache=tmp_path / "cache",
        )
        run_evaluation(request, log=lambda line: None)
        return _row(_read_csv(tmp_path / out / "metrics.csv"), "subject0", "gaussian", "rician sigma=0.05")

    first, again = run("first"), run("again")
    assert (
        again["scores_from_cache"] == "True" and again["timed_slices"] == "3" and float(again["seconds_per_slice"]) > 0
    )
    assert again["sigma_used"] == first["sigma_used"]


def test_noise_depends_on_case_and_sigma_only(mr_volume):
    clean = mr_volume(3, 32)
    first = noisy_volume(clean, "gaussian", 0.1, 0, "a")
    assert np.array_equal(first, noisy_volume(clean, "gaussian", 0.1, 0, "a"))
    for other in (noisy_volume(clean, "gaussian", 0.1, 0, "b"), noisy_volume(clean, "gaussian", 0.1, 1, "a")):
        assert not np.allclose(first, other)


# --- training curves ----------------------------------------------------------------------------------------

_LOG_HEAD = "epoch,lr-Adam,step,train_loss_epoch,train_loss_step,val_dice,val_dice_liver,val_loss,val_volumes\n"


def _write_log(folder: Path, epochs: range, steps_per_epoch: int = 2) -> None:
    """A CSV log as Lightning's CSVLogger writes it (one sparse row per logging call)."""
    folder.mkdir(parents=True)
    lines = [_LOG_HEAD]
    for epoch in epochs:
        last = (epoch + 1) * steps_per_epoch - 1
        lines.append(f",0.0001,{epoch * steps_per_epoch},,,,,,\n")
        for step in range(epoch * steps_per_epoch, last + 1):
            lines.append(f"{epoch},,{step},,{2.0 / (step + 1):.4f},,,,\n")
        lines.append(f"{epoch},,{last},,,{0.1 * epoch:.3f},{0.2 * epoch:.3f},{1.5 - 0.1 * epoch:.3f},1.0\n")
        lines.append(f"{epoch},,{last},{2.0 / (last + 1):.4f},,,,,\n")
    (folder / "metrics.csv").write_text("".join(lines), encoding="utf-8")


def test_curves_of_a_resumed_run_join_its_log_versions(tmp_path):
    run = tmp_path / "run"
    _write_log(run / "logs" / "version_0", range(0, 2))
    _write_log(run / "logs" / "version_1", range(2, 4))  # resumed: steps continue
    out = tmp_path / "out"
    result = run_evaluation(EvaluationRequest(None, curves=run, out=out))
    assert result.written == {"curves": out / "curves.png"}
    assert (out / "curves.png").is_file()
    train, val, monitored = result.curves.axes
    assert monitored.get_title() == "val_dice"
    (dice,) = monitored.get_lines()
    assert list(dice.get_xdata()) == [1, 3, 5, 7] and list(dice.get_ydata()) == pytest.approx([0, 0.1, 0.2, 0.3])
    per_step = next(line for line in train.get_lines() if line.get_label() == "per step")
    assert list(per_step.get_xdata()) == list(range(8))
    assert len(val.get_lines()) == 1


def test_curves_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert evaluate_main(["--curves", str(empty), "--out", str(tmp_path / "o")]) == 3
    assert "no metrics.csv" in capsys.readouterr().err
    _write_log(tmp_path / "run" / "logs" / "version_0", range(1))
    assert (
        evaluate_main(["--curves", str(tmp_path / "run"), "--monitor", "val_ssim", "--out", str(tmp_path / "o")]) == 2
    )
    assert "val_dice" in capsys.readouterr().err  # the message lists what was logged
    log = tmp_path / "run" / "logs" / "version_0" / "metrics.csv"
    before = log.read_bytes()
    assert evaluate_main(["--curves", str(log), "--out", str(log.parent), "--overwrite"]) == 0  # curves.png beside it
    assert log.read_bytes() == before


# --- bad input: a clear message and exit code before any work -----------------------------------------------


@pytest.fixture
def no_case_is_scored(monkeypatch):
    """Fail the test if any case is scored: every error below must come first."""

    def refuse(*args, **kwargs):
        raise AssertionError("a case was scored before the error")

    monkeypatch.setattr("condswin.training.evaluation.runner._score_case", refuse)


@pytest.mark.usefixtures("no_case_is_scored")
@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--model", "no-such-model-id"], 4, "no-such-model-id"),
        (["--model", "{bundle_denoising}"], 4, "is a denoising model, not a reconstruction model"),
        (["--baseline", "zero-filed"], 2, "did you mean 'zero-filled'"),
        (["--baseline", "bm3d"], 2, "unknown reconstruction baseline 'bm3d'; accepted: zero-filled"),
        (["--baseline", "zero-filled", "--sigma", "0.1"], 2, "--sigma applies to denoising only"),
        (["--baseline", "zero-filled", "--kind", "lits"], 2, "reads one of fastmri, mr_volumes"),
        (["--baseline", "zero-filled", "--acceleration", "0.5"], 2, "--acceleration must lie in [1, 64]"),
        ([], 2, "nothing to evaluate"),
        (["--baseline", "zero-filled", "--data", "{empty}"], 3, "no fastMRI .h5 files nor MR volumes"),
        (["--baseline", "zero-filled", "--data", "{empty}", "--kind", "fastmri"], 3, "with a reconstruction target"),
        (["--baseline", "zero-filled", "--data", "{missing}"], 3, "no such dataset folder"),
    ],
)
def test_bad_input_fails_before_any_work(arguments, code, message, fastmri_root, tiny_bundles, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    values = {"bundle_denoising": str(tiny_bundles["denoising"]), "empty": str(empty), "missing": str(tmp_path / "x")}
    arguments = [a.format(**values) for a in arguments]
    if "--data" not in arguments:
        arguments += ["--data", str(fastmri_root)]
    out = tmp_path / "out"
    assert evaluate_main(["--task", "reconstruction", *arguments, "--out", str(out)]) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.usefixtures("no_case_is_scored")
def test_segmentation_has_no_baselines_and_outputs_are_not_replaced(lits_root, tiny_bundles, tmp_path, capsys):
    out = tmp_path / "out"
    assert evaluate_main(["--task", "segmentation", "--data", str(lits_root), "--baseline", "bm3d"]) == 2
    assert "has no baselines" in capsys.readouterr().err
    out.mkdir()
    (out / "metrics.csv").write_text("earlier results\n", encoding="utf-8")
    arguments = ["--task", "segmentation", "--data", str(lits_root), "--model", str(tiny_bundles["segmentation"])]
    assert evaluate_main([*arguments, "--out", str(out)]) == 5
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "metrics.csv").read_text(encoding="utf-8") == "earlier results\n"


@pytest.mark.usefixtures("no_case_is_scored")
def test_a_label_map_off_its_ct_grid_or_the_wrong_layout_is_an_input_error(lits_root, tiny_bundles, tmp_path, capsys):
    bad = tmp_path / "lits"
    bad.mkdir()
    for name in ("volume-0.nii.gz", "segmentation-0.nii.gz", "volume-1.nii.gz"):
        (bad / name).write_bytes((lits_root / name).read_bytes())
    labels = sitk.ReadImage(str(lits_root / "segmentation-1.nii.gz"))
    sitk.WriteImage(labels[:, :, :2], str(bad / "segmentation-1.nii.gz"))  # one slice short
    arguments = ["--task", "segmentation", "--data", str(bad), "--model", str(tiny_bundles["segmentation"])]
    assert evaluate_main([*arguments, "--out", str(tmp_path / "out")]) == 3
    assert "segmentation-1.nii.gz: not on the grid of volume-1.nii.gz" in capsys.readouterr().err
    assert evaluate_main([*arguments, "--kind", "decathlon", "--out", str(tmp_path / "out")]) == 3
    assert "--kind decathlon expects imagesTr/ + labelsTr/" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
