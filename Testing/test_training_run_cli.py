"""``Training/train.py`` end to end on tiny data in the real on-disk formats, and its exit codes.

Each run writes its data (LiTS NIfTI, fastMRI h5, MR NIfTI), trains a tiny network for one epoch through
the script's ``main``, and hands the exported bundle to the ``condswin`` command — which must load it
without any change — on a file of the same kind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from model_support import script_main

from condswin.cli import main as condswin_main
from condswin.ct.phantom import write_lits_case
from condswin.mri.fastmri import write as write_fastmri
from condswin.mri.kspace import center_crop, simulate_singlecoil_kspace

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "Training" / "configs"
TINY_UNET = ["model.name=unet", "model.overrides={chans: 4, num_pool_layers: 2}"]
QUICK = [
    "trainer.max_epochs=1",
    "trainer.batch_size=4",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "data.workers=0",
]


train_main = script_main("train")


@pytest.fixture(scope="module")
def lits_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lits")
    for index in range(3):
        write_lits_case(root, index, seed=20 + index, shape=(40, 40, 8), spacing=(9.0, 9.0, 12.0))
    return root


@pytest.fixture(scope="module")
def fastmri_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fastmri")
    rng = np.random.default_rng(0)
    for folder, names in (("singlecoil_train", ["file1000001", "file1000002"]), ("singlecoil_val", ["file1000003"])):
        (root / folder).mkdir()
        for name in names:
            magnitude = np.zeros((3, 48, 32), dtype=np.float32)
            magnitude[:, 12:36, 6:26] = 1.0 + rng.random((3, 24, 20), dtype=np.float32)
            kspace = simulate_singlecoil_kspace(magnitude, seed=int(rng.integers(1000)))
            target = np.ascontiguousarray(center_crop(magnitude, (32, 32)))
            write_fastmri(root / folder / f"{name}.h5", kspace, target, attrs={"acquisition": "CORPD_FBK"})
    return root


@pytest.fixture(scope="module")
def mr_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mr")
    rng = np.random.default_rng(1)
    for index in range(3):
        volume = np.zeros((4, 32, 32), dtype=np.float32)
        volume[:, 6:26, 5:27] = 100.0 + 60.0 * rng.random((4, 20, 22), dtype=np.float32)
        image = sitk.GetImageFromArray(volume)
        image.SetSpacing((0.9, 0.8, 3.0))
        sitk.WriteImage(image, str(root / f"subject{index}.nii.gz"))
    return root


def _run(tmp_path: Path, config: str, *overrides: str, extra: tuple[str, ...] = ()) -> tuple[int, Path]:
    out = tmp_path / "run"
    argv = ["--config", str(CONFIGS / config), *TINY_UNET, *QUICK, f"trainer.output_dir={out}", *overrides, *extra]
    return train_main(argv), out


@pytest.mark.usefixtures("single_torch_thread")
class TestTrainThenUseTheBundle:
    def test_segmentation_on_lits_nifti(self, lits_root, tmp_path, capsys):
        code, out = _run(
            tmp_path,
            "seg_lits_cswin_light_2l.yaml",
            f"data.root={lits_root}",
            "data.val_volumes=1",
            "data.size=[32,32]",
        )
        assert code == 0, capsys.readouterr().err
        assert f"model bundle: {out / 'bundle'}" in capsys.readouterr().out
        card = json.loads((out / "bundle" / "model_card.json").read_text())
        assert card["id"] == "lits-cswin-light-2l" and card["license"] == "CC-BY-NC-SA-4.0"
        assert card["architecture"] == "unet" and card["input"]["size"] == [32, 32]
        assert card["training"]["command"].startswith("python Training/train.py --config ")
        assert f"data.root={lits_root}" in card["training"]["command"]
        assert card["metrics"]["val_volumes"] == 1 and 0 <= card["metrics"]["val_dice"] <= 1

        labels = tmp_path / "labels.nii.gz"
        argv = ["segment", str(lits_root / "volume-0.nii.gz"), str(labels), "--model", str(out / "bundle")]
        assert condswin_main([*argv, "--progress", "none"]) == 0
        image, result = sitk.ReadImage(str(lits_root / "volume-0.nii.gz")), sitk.ReadImage(str(labels))
        assert result.GetSize() == image.GetSize()

    def test_reconstruction_on_fastmri_h5(self, fastmri_root, tmp_path, capsys):
        code, out = _run(
            tmp_path, "recon_fastmri_cswin_light_2l.yaml", f"data.root={fastmri_root}", "data.size=[32,32]"
        )
        assert code == 0, capsys.readouterr().err
        card = json.loads((out / "bundle" / "model_card.json").read_text())
        assert {"val_nmse", "val_psnr", "val_ssim", "val_loss"} <= set(card["metrics"])
        assert card["training"]["config"]["data"]["kind"] == "fastmri"

        result = tmp_path / "recon.nii.gz"
        source = fastmri_root / "singlecoil_val" / "file1000003.h5"
        assert (
            condswin_main(
                ["reconstruct", str(source), str(result), "--model", str(out / "bundle"), "--progress", "none"]
            )
            == 0
        )
        assert result.is_file()

    def test_denoising_on_mr_nifti(self, mr_root, tmp_path, capsys):
        code, out = _run(
            tmp_path, "denoise_rician_cdae.yaml", f"data.root={mr_root}", "data.val_volumes=1", "data.size=[32,32]"
        )
        assert code == 0, capsys.readouterr().err
        card = json.loads((out / "bundle" / "model_card.json").read_text())
        assert {"val_psnr", "val_ssim"} <= set(card["metrics"]) and card["id"] == "denoise-rician-cdae"

        result = tmp_path / "denoised.nii.gz"
        source = mr_root / "subject0.nii.gz"
        assert (
            condswin_main(["denoise", str(source), str(result), "--method", str(out / "bundle"), "--progress", "none"])
            == 0
        )
        assert result.is_file()


def test_unknown_key_is_a_usage_error_before_anything_runs(tmp_path, capsys):
    code, out = _run(tmp_path, "seg_phantom_unet.yaml", "trainer.max_epoch=2")
    assert code == 2
    err = capsys.readouterr().err
    assert "seg_phantom_unet.yaml: trainer.max_epoch: unknown key; this section accepts: max_epochs" in err
    assert not out.exists()


@pytest.mark.parametrize("decay", ["1", "-0.1", "2.5"])
def test_an_averaging_decay_outside_zero_to_one_is_a_usage_error(tmp_path, capsys, decay):
    code, out = _run(tmp_path, "seg_phantom_unet.yaml", f"trainer.ema_decay={decay}")
    assert code == 2
    assert "seg_phantom_unet.yaml: trainer.ema_decay: must lie in [0, 1)" in capsys.readouterr().err
    assert not out.exists()


def test_missing_data_and_config_and_checkpoint_are_input_errors(tmp_path, capsys):
    code, out = _run(tmp_path, "seg_lits_unet.yaml", f"data.root={tmp_path / 'no-such-folder'}")
    assert code == 3
    assert "no-such-folder" in capsys.readouterr().err
    assert not (out / "checkpoints").exists()

    assert train_main(["--config", str(tmp_path / "missing.yaml")]) == 3
    assert "missing.yaml: no such config file" in capsys.readouterr().err

    code, _ = _run(tmp_path, "seg_phantom_unet.yaml", extra=("--resume", str(tmp_path / "gone.ckpt")))
    assert code == 3
    assert "gone.ckpt: no such checkpoint file" in capsys.readouterr().err


def test_a_model_override_above_its_limit_is_a_usage_error_before_anything_is_built(tmp_path, capsys):
    code, out = _run(tmp_path, "seg_phantom_unet.yaml", "model.overrides={chans: 100000, num_pool_layers: 2}")
    assert code == 2  # not a 360 GB allocation and a traceback
    assert "unet: chans is 100000; at most 1024 is accepted" in capsys.readouterr().err
    assert not out.exists()


def _failing(monkeypatch, name: str, seen: dict) -> None:
    """Make ``condswin.training.run.<name>`` raise a bug (not an error of the family), recording the run folder."""
    from condswin.training import run as run_module

    def broken(*args, **kwargs):
        seen["cache made"] = (seen["out"] / "data_cache").is_dir()
        raise RuntimeError(f"a bug in {name}")

    monkeypatch.setattr(run_module, name, broken)


def test_an_internal_error_is_exit_70_with_its_traceback_and_leaves_no_data_cache(
    mr_root, tmp_path, capsys, monkeypatch
):
    seen = {"out": tmp_path / "run"}
    _failing(monkeypatch, "build_module", seen)
    data = (f"data.root={mr_root}", "data.val_volumes=1", "data.size=[32,32]")
    code, out = _run(tmp_path, "denoise_rician_cdae.yaml", *data)
    assert code == 70  # 1 would say the training was interrupted
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a bug in build_module" in err and "internal error" in err
    assert seen["cache made"] and not out.exists()  # the cache and the run folder it made are gone

    shared = tmp_path / "shared_cache"  # a cache folder that existed before the run is left as it was
    shared.mkdir()
    code, out = _run(tmp_path, "denoise_rician_cdae.yaml", *data, f"data.cache_dir={shared}")
    assert code == 70 and any(shared.iterdir())


@pytest.mark.usefixtures("single_torch_thread")
def test_a_run_that_fails_after_its_checkpoints_keeps_them_and_removes_its_data_cache(
    mr_root, tmp_path, capsys, monkeypatch
):
    seen = {"out": tmp_path / "run"}
    _failing(monkeypatch, "export_bundle", seen)
    code, out = _run(
        tmp_path,
        "denoise_rician_cdae.yaml",
        f"data.root={mr_root}",
        "data.val_volumes=1",
        "data.size=[32,32]",
        "trainer.max_steps=2",
    )
    assert code == 70 and "a bug in export_bundle" in capsys.readouterr().err
    assert seen["cache made"] and not (out / "data_cache").exists()
    assert (out / "checkpoints" / "last.ckpt").is_file()  # resumable


def test_every_shipped_config_loads_and_builds_its_network():
    from condswin.models import model_config
    from condswin.training.config import load_config

    names = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    seg = [
        f"seg_{d}_{m}.yaml"
        for d in ("phantom", "lits", "decathlon")
        for m in ("cswin_light_2l", "cswin_iter_2l", "swin_unet_2l", "unet")
    ]
    recon = [f"recon_{d}_{m}.yaml" for d in ("fastmri", "mr_volumes") for m in ("cswin_light_2l", "unet")]
    recon.append("recon_mr_volumes_cswin_dc.yaml")  # the data-consistency default
    recon.append("recon_unrolled_cswin.yaml")  # the unrolled data-consistency design
    denoise = [f"denoise_{n}_{m}.yaml" for n in ("gaussian", "rician") for m in ("unet_dctd_a", "cdae")]
    denoise.append("denoise_mr_default.yaml")  # the residual denoiser default
    assert names == sorted(seg + recon + denoise)
    outputs = set()
    for name in names:
        config = load_config(CONFIGS / name)
        assert name.startswith(
            {"segmentation": "seg_", "reconstruction": "recon_", "denoising": "denoise_"}[config.task]
        )
        assert config.data.kind == "phantom" or config.data.root  # a placeholder the user overrides
        model_config(config.model.name, **dict(config.model.overrides))
        if name != "denoise_mr_default.yaml":  # the embedded denoiser's measured schedule (its header says why)
            assert config.optim.lr == 1e-4 and config.optim.gamma == 0.8 and config.optim.grad_clip == 0.5
        outputs.add(config.trainer.output_dir)
    assert len(outputs) == len(names)  # two configs never write into one run folder


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
