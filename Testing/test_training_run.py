"""Training runs end to end on CPU with tiny in-memory data: learning, per-volume scores, DDP, resume, export.

Each dataset is a few 32×32 slices per volume made from smooth shapes; the image tasks use a scale and offset
other than (1, 0), so metrics that forgot to return to original units would not match the independent
recomputation here.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from condswin.bundles import load_bundle, read_bundle
from condswin.errors import InputNotFoundError, ModelError, OutputExistsError, UsageError
from condswin.metrics import dice, psnr, ssim
from condswin.training.checkpoint import check_checkpoint
from condswin.training.config import config_from_dict, config_to_dict
from condswin.training.data import DataSplits, SliceSample
from condswin.training.loaders import SliceDataModule, VolumeSampler
from condswin.training.modules import build_module
from condswin.training.modules import volumes as volumes_module
from condswin.training.modules.volumes import VolumeAccumulator
from condswin.training.run import train

SIZE = 32


def _shapes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A disc (label 1) with an inner disc (label 2) at a random place, and a smooth image of it."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    cy, cx = rng.uniform(11, SIZE - 11, 2)
    r = rng.uniform(6, 9)
    d2 = (yy - cy) ** 2 + (xx - cx) ** 2
    labels = (d2 < r * r).astype(np.int64)
    labels[d2 < (r / 2.2) ** 2] = 2
    image = 0.2 + 0.5 * (labels >= 1) + 0.3 * (labels == 2) + 0.1 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    return labels, image.astype(np.float32)


class TinyVolumes(Dataset):
    """``volumes`` × ``slices`` samples of one task; training samples draw noise from torch's generator."""

    def __init__(self, task: str, volumes: int, slices: int, seed: int, training: bool = False):
        self.task, self.training = task, training
        rng = np.random.default_rng(seed)
        self.items: list[tuple[str, int, np.ndarray, np.ndarray, float, float]] = []
        for v in range(volumes):
            scale, offset = float(rng.uniform(200, 400)), float(rng.uniform(-20, 20))
            for s in range(slices):
                labels, image = _shapes(rng)
                self.items.append((f"vol-{seed}-{v}", s, labels, image, scale, offset))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> SliceSample:
        volume, slice_index, labels, image, scale, offset = self.items[index]
        clean = torch.from_numpy(image)[None]
        if self.task == "segmentation":
            noisy = clean + 0.05 * torch.from_numpy(np.random.default_rng(index).standard_normal(clean.shape))
            return SliceSample(noisy.float(), torch.from_numpy(labels), volume, slice_index, 1.0, 0.0)
        if self.task == "reconstruction":  # a blurred input, as a zero-filled image is blurred along one axis
            degraded = 0.5 * (clean + torch.roll(clean, 2, dims=-1))
        else:
            noise = np.random.default_rng(1000 + index).standard_normal(clean.shape)
            degraded = clean + 0.1 * torch.from_numpy(noise).float()
        if self.training:  # fresh per sample (like masks and noise in the real pipeline): exercises reseeding
            degraded = degraded + 0.02 * torch.randn(clean.shape)
        return SliceSample(degraded.float(), clean.clone(), volume, slice_index, scale, offset)


def tiny_splits(
    task: str, train_volumes: int = 4, val_volumes: int = 2, slices: int = 8, test_volumes: int = 0
) -> DataSplits:
    """Train / validation (/ test) splits of one task (different seeds: no volume is in two splits)."""
    return DataSplits(
        train=TinyVolumes(task, train_volumes, slices, seed=1, training=True),
        val=TinyVolumes(task, val_volumes, slices // 2, seed=2),
        test=TinyVolumes(task, test_volumes, slices // 2, seed=3) if test_volumes else None,
        in_channels=1,
        out_channels=3 if task == "segmentation" else 1,
        input_contract={"size": [SIZE, SIZE]} if task == "segmentation" else {},
        output_contract={},
        description=f"tiny synthetic {task} test data",
        licences=("CC0-1.0 (synthetic)",),
    )


def tiny_config(task: str, output_dir: Path, **trainer: object):
    """A tiny U-Net config (2 pools, 8 channels) that learns in a few steps; float32 unless ``precision`` is given,
    so that the logged metrics are those inference (float32) reproduces, also on a CPU with native bf16."""
    kind = {"segmentation": "phantom", "reconstruction": "mr_volumes", "denoising": "mr_volumes"}[task]
    values = {
        "task": task,
        "model": {"name": "unet", "overrides": {"chans": 8, "num_pool_layers": 2}},
        "data": {"kind": kind, "root": None if kind == "phantom" else "unused", "size": [SIZE, SIZE], "workers": 0},
        "optim": {"lr": 3e-3, "step_size": 10},
        "trainer": {
            "max_epochs": 3,
            "batch_size": 8,
            "accelerator": "cpu",
            "devices": 1,
            "output_dir": str(output_dir),
            "log_every": 1,
            "precision": "32-true",
            **trainer,
        },
        "export": {"id": f"tiny-{task}"},
    }
    return config_from_dict(values, source="tiny.yaml")


def untrained_val_loss(config, splits: DataSplits) -> float:
    """The validation loss of the network a run starts from (same seed → same initial weights)."""
    L.seed_everything(config.trainer.seed, workers=True)
    module = build_module(config, splits.in_channels, splits.out_channels)
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_checkpointing=False
    )
    data = SliceDataModule(config, splits.train, splits.val)
    return float(trainer.validate(module, datamodule=data, verbose=False)[0]["val_loss"])


class StepLosses(L.Callback):
    """Records (global step, training loss) of every step."""

    def __init__(self) -> None:
        self.losses: list[tuple[int, float]] = []
        self.batches = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append((trainer.global_step, float(outputs["loss"])))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.batches += 1


@pytest.fixture(scope="module")
def runs(tmp_path_factory, single_torch_thread):
    """One short run per task (shared by the tests that inspect runs)."""
    results = {}
    for task in ("segmentation", "reconstruction", "denoising"):
        folder = tmp_path_factory.mktemp(task)
        splits = tiny_splits(task)
        config = tiny_config(task, folder / "run")
        before = untrained_val_loss(config, splits)
        result = train(config, splits=splits, command=f"python Training/train.py --config {task}.yaml")
        results[task] = (config, splits, before, result)
    return results


@pytest.mark.parametrize("task", ["segmentation", "reconstruction", "denoising"])
def test_short_run_lowers_validation_loss(runs, task):
    config, splits, before, result = runs[task]
    after = result.metrics["val_loss"]
    assert after < 0.8 * before, f"{task}: validation loss {before:.4f} → {after:.4f}"
    assert result.best_checkpoint is not None and result.best_checkpoint.is_file()
    assert result.last_checkpoint is not None and result.last_checkpoint.name == "last.ckpt"
    assert result.metrics["val_volumes"] == 2
    expected = {"segmentation": "val_dice", "reconstruction": "val_ssim", "denoising": "val_ssim"}[task]
    assert result.monitor == expected and expected in result.metrics
    log = (result.log_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_loss_step", "val_loss", expected, "img_s"} <= set(log)


def _volume_arrays(splits: DataSplits, net: torch.nn.Module, task: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each validation volume's prediction and reference in original units, computed here independently."""
    volumes: dict[str, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    with torch.no_grad():
        for sample in splits.val:
            out = net(sample.image[None])[0]
            if task == "segmentation":
                pred, ref = out.argmax(0).numpy(), sample.target.numpy()
            else:
                pred = out[0].double().numpy() * sample.scale + sample.offset
                ref = sample.target[0].double().numpy() * sample.scale + sample.offset
            volumes.setdefault(sample.volume, []).append((sample.slice_index, pred, ref))
    return {
        v: (
            np.stack([p for _, p, _ in sorted(s, key=lambda t: t[0])]),
            np.stack([r for _, _, r in sorted(s, key=lambda t: t[0])]),
        )
        for v, s in volumes.items()
    }


@pytest.mark.parametrize("task", ["segmentation", "denoising"])
def test_exported_bundle_loads_and_reproduces_the_logged_metric(runs, task):
    config, splits, _, result = runs[task]
    loaded = load_bundle(read_bundle(result.bundle.parent))
    volumes = _volume_arrays(splits, loaded.model, task)
    if task == "segmentation":
        per_volume = [dice(p == 1, r == 1) for p, r in volumes.values()]
        logged = result.metrics["val_dice_liver"]
    else:
        per_volume = [ssim(r, p) for p, r in volumes.values()]
        logged = result.metrics["val_ssim"]
        psnrs = [psnr(r, p) for p, r in volumes.values()]
        assert np.mean(psnrs) == pytest.approx(result.metrics["val_psnr"], abs=1e-3)
    assert np.mean(per_volume) == pytest.approx(logged, abs=1e-4)

    card = json.loads(result.bundle.read_text())
    assert card["metrics"]["val_loss"] == pytest.approx(result.metrics["val_loss"])
    assert card["training"]["command"] == f"python Training/train.py --config {task}.yaml"
    assert card["training"]["data"] == f"tiny synthetic {task} test data"
    assert card["training"]["licences"] == ["CC0-1.0 (synthetic)"]
    assert config_from_dict(card["training"]["config"], source="tiny.yaml") == config
    assert card["architecture"] == "unet" and card["config"] == {"chans": 8, "num_pool_layers": 2}
    assert card["id"] == f"tiny-{task}"
    if task == "segmentation":
        assert card["input"]["size"] == [SIZE, SIZE] and card["out_channels"] == 3


class Scramble(L.Callback):
    """Overwrites the weights once training has ended: the export must come from the best checkpoint file."""

    def on_train_end(self, trainer, pl_module) -> None:
        with torch.no_grad():
            for parameter in pl_module.parameters():
                parameter.add_(torch.randn_like(parameter))


def test_exported_weights_and_metrics_are_those_of_the_best_checkpoint(tmp_path, single_torch_thread):
    splits = tiny_splits("denoising", train_volumes=2, val_volumes=2, test_volumes=1)
    result = train(tiny_config("denoising", tmp_path / "run", max_epochs=2), splits=splits, callbacks=[Scramble()])
    best = torch.load(result.best_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    loaded = load_bundle(read_bundle(result.bundle.parent)).model
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, best[f"net.{key}"], rtol=0, atol=0)
    volumes = _volume_arrays(splits, loaded, "denoising")
    assert np.mean([ssim(r, p) for p, r in volumes.values()]) == pytest.approx(result.metrics["val_ssim"], abs=1e-4)
    assert result.best_score == result.metrics["val_ssim"]
    # the held-out test volume, scored with the same weights and recorded in the card
    tested = _volume_arrays(replace(splits, val=splits.test), loaded, "denoising")
    assert result.metrics["test_volumes"] == 1
    assert ssim(*next(iter(tested.values()))[::-1]) == pytest.approx(result.metrics["test_ssim"], abs=1e-4)
    assert json.loads(result.bundle.read_text())["metrics"]["test_ssim"] == pytest.approx(result.metrics["test_ssim"])

    # a finished run exported again: resume from its last checkpoint, nothing is trained
    steps = StepLosses()
    config = tiny_config("denoising", tmp_path / "run", max_epochs=2)
    again = train(
        config, splits=splits, resume=result.last_checkpoint, export_dir=tmp_path / "again", callbacks=[steps]
    )
    assert steps.batches == 0 and again.best_checkpoint == result.best_checkpoint
    assert again.metrics == result.metrics
    reloaded = load_bundle(read_bundle(tmp_path / "again")).model.state_dict()
    for key, value in reloaded.items():
        torch.testing.assert_close(value, best[f"net.{key}"], rtol=0, atol=0)


def test_resume_continues_at_the_saved_step_with_the_same_next_loss(tmp_path, single_torch_thread):
    """Exact with dropout, per-sample random draws and persistent worker processes (see condswin.training.seeds)."""
    splits = tiny_splits("denoising", train_volumes=2, slices=8)
    base = config_to_dict(tiny_config("denoising", tmp_path / "full", max_epochs=3))
    base["model"]["overrides"]["drop_prob"] = 0.2
    base["data"]["workers"] = 2
    base = config_from_dict(base, source="tiny.yaml")
    full = StepLosses()
    train(base, splits=splits, export=False, callbacks=[full])

    first = replace(base, trainer=replace(base.trainer, max_epochs=1, output_dir=str(tmp_path / "part")))
    part = train(first, splits=splits, export=False)
    saved_step = torch.load(part.last_checkpoint, map_location="cpu", weights_only=True)["global_step"]
    resumed_losses = StepLosses()
    rest = replace(first, trainer=replace(first.trainer, max_epochs=3))
    train(rest, splits=splits, export=False, resume=part.last_checkpoint, callbacks=[resumed_losses])

    steps_per_epoch = 2  # 16 slices, batch 8
    assert saved_step == steps_per_epoch
    assert resumed_losses.losses[0][0] == saved_step + 1  # the first step after resuming is the next one
    expected = full.losses[steps_per_epoch:]
    assert [s for s, _ in resumed_losses.losses] == [s for s, _ in expected]
    np.testing.assert_allclose([x for _, x in resumed_losses.losses], [x for _, x in expected], rtol=1e-6, atol=1e-7)


class RawWeights(L.Callback):
    """The network's raw (trained, not averaged) weights after every optimiser step, by global step."""

    def __init__(self) -> None:
        self.by_step: dict[int, dict[str, torch.Tensor]] = {}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.by_step[trainer.global_step] = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}


def test_weight_averaging_exports_and_validates_the_average(tmp_path, single_torch_thread):
    """``trainer.ema_decay``: the bundle holds the exponential moving average of the raw weights up to its
    checkpoint's step (not the raw weights of that step), and the logged validation score is the average's."""
    decay = 0.6
    splits = tiny_splits("denoising", train_volumes=2, val_volumes=2, slices=8)
    raw = RawWeights()
    result = train(
        tiny_config("denoising", tmp_path / "run", max_epochs=3, ema_decay=decay), splits=splits, callbacks=[raw]
    )
    card = json.loads(result.bundle.read_text())
    step = card["training"]["checkpoint_step"]
    assert card["training"]["config"]["trainer"]["ema_decay"] == decay and step in raw.by_step
    average = dict(raw.by_step[1])
    for s in range(2, step + 1):
        average = {k: decay * average[k] + (1 - decay) * raw.by_step[s][k] for k in average}
    loaded = load_bundle(read_bundle(result.bundle.parent)).model
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, average[key], rtol=1e-5, atol=1e-6, msg=key)
    assert max((loaded.state_dict()[k] - v).abs().max() for k, v in raw.by_step[step].items()) > 1e-3
    volumes = _volume_arrays(splits, loaded, "denoising")
    assert np.mean([ssim(r, p) for p, r in volumes.values()]) == pytest.approx(result.metrics["val_ssim"], abs=1e-4)


def test_a_resumed_run_continues_both_the_weights_and_their_average(tmp_path, single_torch_thread):
    splits = tiny_splits("denoising", train_volumes=2, slices=8)
    full = train(tiny_config("denoising", tmp_path / "full", max_epochs=3, ema_decay=0.6), splits=splits, export=False)
    part = train(tiny_config("denoising", tmp_path / "part", max_epochs=1, ema_decay=0.6), splits=splits, export=False)
    resumed = train(
        tiny_config("denoising", tmp_path / "part", max_epochs=3, ema_decay=0.6),
        splits=splits,
        export=False,
        resume=part.last_checkpoint,
    )
    ends = [torch.load(r.last_checkpoint, map_location="cpu", weights_only=True) for r in (full, resumed)]
    for key in ("state_dict", "current_model_state"):  # the average, and the raw weights beside it
        for name, value in ends[0][key].items():
            torch.testing.assert_close(ends[1][key][name], value, rtol=1e-5, atol=1e-6, msg=f"{key} {name}")


@pytest.mark.parametrize("task", ["segmentation", "reconstruction", "denoising"])
def test_a_config_survives_the_round_trip_a_checkpoint_and_a_card_make(tmp_path, task):
    """Checkpoints and cards store ``config_to_dict``; resuming and fine-tuning read it back with every default."""
    config = tiny_config(task, tmp_path / "run")
    assert config_from_dict(config_to_dict(config), source=config.source) == config


class StartWeights(L.Callback):
    """The network's weights when training starts."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.weights = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}


def test_frozen_parameters_stay_as_they_were_and_the_rest_train(tmp_path, single_torch_thread):
    """``optim.freeze``: the parameters under the prefixes end the run exactly as they started; the others move."""
    splits = tiny_splits("denoising", train_volumes=2, slices=8)
    config = tiny_config("denoising", tmp_path / "run", max_epochs=2)
    config = replace(config, optim=replace(config.optim, freeze=("down_blocks.", "bottleneck.")))
    start = StartWeights()
    result = train(config, splits=splits, export=False, callbacks=[start])
    after = torch.load(result.last_checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    after = {name.removeprefix("net."): value for name, value in after.items()}
    moved = {name for name, value in start.weights.items() if not torch.equal(after[name], value)}
    assert moved and all(name.startswith(("up_", "head")) for name in moved), moved
    assert not any(name.startswith(("down_blocks.", "bottleneck.")) for name in moved)


def test_a_freeze_prefix_that_names_nothing_fails_before_training(tmp_path):
    config = tiny_config("denoising", tmp_path / "run")
    with pytest.raises(UsageError, match="needs parameter name prefixes"):
        config_from_dict({**config_to_dict(config), "optim": {"freeze": [""]}}, source="tiny.yaml")
    bad = replace(config, optim=replace(config.optim, freeze=("encoder.",)))
    splits = tiny_splits("denoising", train_volumes=1, val_volumes=1, slices=2)
    with pytest.raises(
        UsageError, match="'encoder.' names no parameter of unet; its parameters start with bottleneck."
    ):
        train(bad, splits=splits, export=False)
    everything = replace(config, optim=replace(config.optim, freeze=("down_", "up_", "bottleneck", "head")))
    with pytest.raises(UsageError, match="leaves no parameter to train"):
        train(everything, splits=splits, export=False)
    assert not (tmp_path / "run").exists()


def test_checkpoint_of_another_architecture_fails_before_training(tmp_path, single_torch_thread):
    splits = tiny_splits("segmentation", train_volumes=1, val_volumes=1, slices=8)
    config = tiny_config("segmentation", tmp_path / "unet", max_epochs=1)
    done = train(config, splits=splits, export=False)

    other = config_from_dict(
        {
            **config_to_dict(config),
            "model": {"name": "swin_unet_1l", "overrides": {"embed_dim": 16, "window_size": 4, "num_heads": [2, 4]}},
        },
        source="swin.yaml",
    )
    steps = StepLosses()
    with pytest.raises(
        ModelError, match=r"last\.ckpt: this checkpoint cannot resume the run of swin\.yaml.*architecture 'unet'"
    ):
        train(other, splits=splits, resume=done.last_checkpoint, callbacks=[steps])
    wider = config_from_dict(
        {**config_to_dict(config), "model": {"name": "unet", "overrides": {"chans": 4}}}, source="w.yaml"
    )
    with pytest.raises(ModelError, match=r"model_config \{'chans': 8, 'num_pool_layers': 2\}"):
        train(wider, splits=splits, resume=done.last_checkpoint, callbacks=[steps])
    assert steps.batches == 0

    # a checkpoint without the record (from another tool) is still compared weight by weight
    checkpoint = torch.load(done.last_checkpoint, map_location="cpu", weights_only=True)
    checkpoint.pop("condswin")
    bare = tmp_path / "bare.ckpt"
    torch.save(checkpoint, bare)
    module = build_module(wider, 1, 3)
    with pytest.raises(ModelError, match=r"bare\.ckpt: the checkpoint's weights do not fit unet .* of another shape"):
        check_checkpoint(bare, module)
    with pytest.raises(InputNotFoundError, match="nothing.ckpt: no such checkpoint file"):
        check_checkpoint(tmp_path / "nothing.ckpt", module)


def test_existing_export_folder_and_bad_loss_fail_before_training(tmp_path):
    splits = tiny_splits("denoising", train_volumes=1, val_volumes=1)
    config = tiny_config("denoising", tmp_path / "run")
    (tmp_path / "taken").mkdir()
    steps = StepLosses()
    with pytest.raises(OutputExistsError, match="taken: the export folder already exists"):
        train(config, splits=splits, export_dir=tmp_path / "taken", callbacks=[steps])
    bad = config_from_dict({**config_to_dict(config), "optim": {"loss": "dice_ce"}}, source="bad.yaml")
    with pytest.raises(UsageError, match=r"bad\.yaml: optim\.loss: a denoising run trains with one of mse, l1"):
        train(bad, splits=splits, callbacks=[steps])
    bad_id = config_from_dict({**config_to_dict(config), "export": {"id": "my model!"}}, source="id.yaml")
    with pytest.raises(ModelError, match=r"id\.yaml \(model card of the export\): id: must be 1-100 letters"):
        train(bad_id, splits=splits, callbacks=[steps])
    assert steps.batches == 0


def test_volume_sampler_gives_each_rank_whole_contiguous_volumes():
    names = ["a", "b", "a", "c", "b", "a", "d", "c"]  # interleaved, as a shuffled index would be
    single = VolumeSampler(names)
    assert [names[i] for i in single] == ["a", "a", "a", "b", "b", "c", "c", "d"]
    ranks = [VolumeSampler(names, 2, r) for r in range(2)]
    assert [r.volumes for r in ranks] == [["a", "b"], ["c", "d"]]
    assert sorted(i for r in ranks for i in r) == list(range(len(names)))  # nothing padded or repeated


def test_accumulator_scores_whole_volumes_in_slice_order():
    rng = np.random.default_rng(0)
    ref = {v: rng.random((5, 8, 8)) + 1 for v in "ab"}
    pred = {v: ref[v] + 0.1 * rng.random((5, 8, 8)) for v in "ab"}
    accumulator = VolumeAccumulator(lambda p, r: {"ssim": ssim(r, p), "psnr": psnr(r, p)})
    # slices of a volume arrive out of order and split across batches; volume a ends inside the 2nd batch
    order = [("a", 3), ("a", 0), ("a", 4), ("a", 1), ("a", 2), ("b", 4), ("b", 0), ("b", 2), ("b", 1), ("b", 3)]
    for start in range(0, len(order), 3):
        batch = order[start : start + 3]
        accumulator.add(
            [v for v, _ in batch],
            [s for _, s in batch],
            np.stack([pred[v][s] for v, s in batch]),
            np.stack([ref[v][s] for v, s in batch]),
        )
    assert set(accumulator.scores) == {"a"}  # scored as soon as the stream moved past it
    scores = accumulator.finish()
    for v in "ab":
        assert scores[v]["ssim"] == pytest.approx(ssim(ref[v], pred[v]))
        assert scores[v]["psnr"] == pytest.approx(psnr(ref[v], pred[v]))
    with pytest.raises(RuntimeError, match="volume 'a' arrived after the volume was scored"):
        accumulator.add(["a"], [0], pred["a"][:1], ref["a"][:1])


def test_gathered_scores_of_every_rank_make_the_means(monkeypatch):
    # Two ranks faked in the default run (the real two-process run is slow): each rank scored its own volumes,
    # and the means every rank logs must come from all of them, not from the first rank's share alone.
    rank_scores = [{"a": {"ssim": 0.9}, "b": {"ssim": 0.7}}, {"c": {"ssim": 0.2}}]

    def all_gather_object(gathered, local):
        assert local == rank_scores[0] and len(gathered) == 2  # this process is rank 0 of two
        gathered[0], gathered[1] = local, {k: dict(v) for k, v in rank_scores[1].items()}

    fake_dist = SimpleNamespace(
        is_available=lambda: True,
        is_initialized=lambda: True,
        get_world_size=lambda: 2,
        all_gather_object=all_gather_object,
    )
    monkeypatch.setattr(volumes_module, "dist", fake_dist)
    merged = volumes_module.gather_volume_scores(rank_scores[0])
    assert merged == {"a": {"ssim": 0.9}, "b": {"ssim": 0.7}, "c": {"ssim": 0.2}}
    stats = volumes_module.summarise_volumes(merged)["ssim"]
    assert (stats.cases, stats.mean) == (3, pytest.approx(0.6))


def _fake_trainer(world: int, rank: int) -> SimpleNamespace:
    cpu = SimpleNamespace(root_device=torch.device("cpu"))
    progress = SimpleNamespace(epoch_progress=SimpleNamespace(current=SimpleNamespace(processed=0)))
    return SimpleNamespace(world_size=world, global_rank=rank, fit_loop=progress, strategy=cpu)


def test_ranks_together_draw_the_single_process_batches():
    """The mechanism behind DDP == one process: W ranks with batch B/W see exactly the slices of batch B."""
    splits = tiny_splits("segmentation", train_volumes=3, slices=8)  # 24 slices: 3 global batches of 8
    config = tiny_config("segmentation", Path("unused"))

    def batches(world: int, rank: int, epoch: int) -> list[set[tuple[str, int]]]:
        sized = replace(config, trainer=replace(config.trainer, batch_size=8 // world))
        data = SliceDataModule(sized, splits.train, splits.val)
        data.trainer = _fake_trainer(world, rank)
        loader = data.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return [set(zip(b.volume, b.slice_index.tolist(), strict=True)) for b in loader]

    orders = []
    for epoch in (0, 1):
        one = batches(1, 0, epoch)
        pairs = zip(batches(2, 0, epoch), batches(2, 1, epoch), strict=True)
        assert [a | b for a, b in pairs] == one
        assert all(not (a & b) for a, b in zip(batches(2, 0, epoch), batches(2, 1, epoch), strict=True))
        orders.append(one)
    assert orders[0] != orders[1]  # a new permutation every epoch


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path, single_torch_thread):
    """DDP (gloo, 2 CPU processes, batch 4 each) against one process with batch 8: same weights and scores.

    Slow (about 1.5 min on two busy cores: ``ddp_spawn`` starts two interpreters for training and two for the
    final validation); the sharding it rests on is checked in the default suite above. The tolerance covers
    float32 summation order only (gradients averaged by an all-reduce instead of inside one batch): after
    4 Adam steps the weights differed by at most 3.6e-7 (largest weight 0.36); 1e-5 leaves margin and still
    fails when a process sees other slices (e.g. a sampler that does not shard the permutation).
    """
    splits = tiny_splits("segmentation", train_volumes=2, val_volumes=2, slices=8)
    one = tiny_config("segmentation", tmp_path / "one", max_epochs=2, batch_size=8)
    two = tiny_config("segmentation", tmp_path / "two", max_epochs=2, batch_size=4, devices=2, strategy="ddp_spawn")
    single = train(one, splits=splits, export=False)
    double = train(two, splits=splits, export=False)

    a = torch.load(single.last_checkpoint, map_location="cpu", weights_only=True)
    b = torch.load(double.last_checkpoint, map_location="cpu", weights_only=True)
    assert a["global_step"] == b["global_step"] == 4
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=0, atol=1e-5, msg=key)
    # validation volumes were split between the processes and their scores gathered: the same means
    assert double.metrics["val_volumes"] == 2
    for name, value in single.metrics.items():
        assert double.metrics[name] == pytest.approx(value, abs=1e-4), name


def test_segmentation_scores_leave_out_classes_absent_from_a_volume(tmp_path):
    module = build_module(tiny_config("segmentation", tmp_path), 1, 3)
    target = np.zeros((2, 8, 8), dtype=np.uint8)
    target[:, 2:6, 2:6] = 1
    pred = target.copy()
    pred[0, 2, 2] = 0
    scores = module.score_volume(pred, target)  # no tumour in either: undefined, not a perfect 1
    assert scores["dice_tumour"] is None and scores["iou_tumour"] is None
    assert scores["dice_liver"] == pytest.approx(2 * 31 / (31 + 32))
    means = module.summarise({"dice_liver": 0.8, "dice_tumour": float("nan")})
    assert means["dice"] == pytest.approx(0.8)
