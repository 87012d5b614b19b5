"""Fine-tuning from a bundle (``Training/train.py --init-from``): the weights it starts from, the lineage its
card keeps, and the bundles it refuses before the first step."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from model_support import script_main, tampered_copy, write_mr_subjects

from condswin.bundles import load_bundle, read_bundle
from condswin.training.config import load_config
from condswin.training.run import train

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "Training" / "configs" / "denoise_rician_cdae.yaml"
TINY = [
    "model.name=unet",
    "model.overrides={chans: 4, num_pool_layers: 2}",
    "trainer.max_steps=3",
    "trainer.max_epochs=100",
    "trainer.batch_size=2",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.precision=32-true",
    "data.workers=0",
    "data.size=[32,32]",
    "data.val_volumes=1",
]

train_main = script_main("train")
pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def mr_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "mr"
    write_mr_subjects(root, 3, shape=(3, 36, 32))
    return root


@pytest.fixture(scope="module")
def first_bundle(mr_root, tmp_path_factory) -> Path:
    """A bundle trained from scratch for three steps: the model a fine-tuning run starts from."""
    out = tmp_path_factory.mktemp("first")
    assert train_main(["--config", str(CONFIG), *TINY, f"data.root={mr_root}", f"trainer.output_dir={out}"]) == 0
    return out / "bundle"


class _StartingWeights(Callback):
    """Records the network's weights when training starts (after any initialisation from a bundle)."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.state = {k: v.detach().clone() for k, v in pl_module.net.state_dict().items()}


def test_fine_tuning_starts_from_the_bundle_and_its_card_keeps_both_runs(first_bundle, mr_root, tmp_path):
    overrides = [*TINY, "trainer.max_steps=2", f"data.root={mr_root}", f"trainer.output_dir={tmp_path / 'ft'}"]
    config = load_config(CONFIG, overrides)
    seen = _StartingWeights()
    command = f"python Training/train.py --config {CONFIG} --init-from {first_bundle}"
    result = train(config, init_from=str(first_bundle), command=command, callbacks=[seen])

    expected = load_bundle(read_bundle(first_bundle)).model.state_dict()
    assert set(seen.state) == set(expected)
    for name, tensor in expected.items():
        torch.testing.assert_close(seen.state[name], tensor, rtol=0, atol=0, msg=name)

    card = json.loads(result.bundle.read_text())
    first_card = json.loads((first_bundle / "model_card.json").read_text())
    lineage = card["training"]["lineage"]
    first_run, second_run = lineage["runs"]
    assert first_run == first_card["training"]["lineage"]["runs"][0]
    assert first_run["command"] == first_card["training"]["command"] and first_run["steps"] == 3
    assert second_run["command"] == command and second_run["steps"] == 2
    assert second_run["init_from"].startswith(first_card["id"])
    assert second_run["images_seen"] == 2 * 2 and first_run["images_seen"] == 3 * 2
    assert first_run["data"] == second_run["data"] == card["training"]["data"]
    assert all(run["wall_s"] > 0 for run in lineage["runs"])
    totals = lineage["totals"]
    assert totals["runs"] == 2 and totals["steps"] == 5 and totals["images_seen"] == 10
    assert totals["wall_s"] == pytest.approx(first_run["wall_s"] + second_run["wall_s"], abs=0.002)


def test_resuming_a_fine_tuned_run_keeps_one_lineage(first_bundle, mr_root, tmp_path):
    out = tmp_path / "ft"
    base = [*TINY, f"data.root={mr_root}", f"trainer.output_dir={out}", "--no-export"]
    assert train_main(["--config", str(CONFIG), *base, "trainer.max_steps=2", "--init-from", str(first_bundle)]) == 0
    last = out / "checkpoints" / "last.ckpt"
    export = tmp_path / "bundle"
    resumed = [*TINY, f"data.root={mr_root}", f"trainer.output_dir={out}", "trainer.max_steps=4"]
    assert train_main(["--config", str(CONFIG), *resumed, "--resume", str(last), "--export", str(export)]) == 0
    training = json.loads((export / "model_card.json").read_text())["training"]
    runs = training["lineage"]["runs"]
    # the scratch run, the fine-tuning process up to its checkpoint, the resumed process after it up to the
    # exported (best) checkpoint
    assert len(runs) == 3 and [r["steps"] for r in runs[:2]] == [3, 2]
    assert runs[1]["steps"] + runs[2]["steps"] == training["checkpoint_step"] > 2
    assert "--init-from" in runs[1]["command"] and "--resume" in runs[2]["command"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (["model.overrides={chans: 8, num_pool_layers: 2}"], "model.overrides.chans"),
        (["model.name=cdae", "model.overrides={}"], "model.name"),
    ],
)
def test_a_bundle_of_another_network_is_refused_before_any_step(
    first_bundle, mr_root, tmp_path, capsys, changes, field
):
    out = tmp_path / "run"
    argv = ["--config", str(CONFIG), *TINY, *changes, f"data.root={mr_root}", f"trainer.output_dir={out}"]
    assert train_main([*argv, "--init-from", str(first_bundle)]) == 2
    assert field in capsys.readouterr().err
    assert not (out / "checkpoints").exists()


def test_a_bundle_of_another_contract_or_task_is_refused_naming_the_field(first_bundle, tmp_path, capsys):
    seg = ROOT / "Training" / "configs" / "seg_phantom_unet.yaml"
    argv = ["--config", str(seg), *TINY, f"trainer.output_dir={tmp_path / 'seg'}", "--init-from", str(first_bundle)]
    assert train_main(argv) == 2
    assert "task: the bundle is a denoising model" in capsys.readouterr().err

    # a segmentation bundle made for another HU window: same network, other contract
    seg_out = tmp_path / "seg_bundle"
    seg_args = [*TINY, "trainer.max_steps=1", "data.train_volumes=1", "data.val_volumes=1", "data.slices_per_volume=2"]
    argv = ["--config", str(seg), *seg_args, "data.hu_window=[-200,300]", f"trainer.output_dir={seg_out}"]
    assert train_main(argv) == 0
    out = tmp_path / "refused"
    argv = ["--config", str(seg), *seg_args, f"trainer.output_dir={out}", "--init-from", str(seg_out / "bundle")]
    assert train_main(argv) == 2
    err = capsys.readouterr().err
    assert "contract field normalization" in err and "-200" in err
    assert not (out / "checkpoints").exists()


def test_a_missing_or_tampered_bundle_is_refused(first_bundle, mr_root, tmp_path, capsys):
    argv = ["--config", str(CONFIG), *TINY, f"data.root={mr_root}", f"trainer.output_dir={tmp_path / 'run'}"]
    assert train_main([*argv, "--init-from", "no-such-model-id"]) == 4
    assert "no model bundle with id 'no-such-model-id'" in capsys.readouterr().err

    tampered = tampered_copy(first_bundle, tmp_path / "tampered")
    assert train_main([*argv, "--init-from", str(tampered)]) == 4
    assert "sha256" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoints").exists()

    assert train_main([*argv, "--init-from", str(first_bundle), "--resume", str(tmp_path / "x.ckpt")]) == 2


def test_a_time_budget_ends_the_run_and_the_card_says_so(mr_root, tmp_path):
    out = tmp_path / "run"
    budget = ["trainer.max_steps=-1", "trainer.max_epochs=400", "trainer.time_budget_min=0.02"]  # 1.2 s
    argv = ["--config", str(CONFIG), *TINY, *budget, f"data.root={mr_root}", f"trainer.output_dir={out}"]
    started = time.monotonic()
    assert train_main(argv) == 0
    card = json.loads((out / "bundle" / "model_card.json").read_text())
    assert card["training"]["stopped_by"] == "time budget"
    assert card["training"]["epochs"] < 399 and time.monotonic() - started < 120


RESIDUAL = ["model.name=residual_denoiser", "model.overrides={inner_config: {chans: 4, num_pool_layers: 2}}"]
GATED = ["model.overrides={inner_config: {chans: 4, num_pool_layers: 2}, air_gate: true}"]


@pytest.fixture(scope="module")
def residual_bundle(mr_root, tmp_path_factory) -> Path:
    """A residual denoiser without a gate, trained for three steps: the network ``--extend`` grows."""
    out = tmp_path_factory.mktemp("residual")
    argv = ["--config", str(CONFIG), *TINY, *RESIDUAL, f"data.root={mr_root}", f"trainer.output_dir={out}"]
    assert train_main(argv) == 0
    return out / "bundle"


def test_extend_adds_layers_and_keeps_every_bundle_tensor(residual_bundle, mr_root, tmp_path):
    overrides = [*TINY, *RESIDUAL, *GATED, "trainer.max_steps=1", f"data.root={mr_root}"]
    config = load_config(CONFIG, [*overrides, f"trainer.output_dir={tmp_path / 'grown'}"])
    seen = _StartingWeights()
    result = train(config, init_from=str(residual_bundle), extend=True, command="grow", callbacks=[seen])

    expected = load_bundle(read_bundle(residual_bundle)).model.state_dict()
    for name, tensor in expected.items():
        torch.testing.assert_close(seen.state[name], tensor, rtol=0, atol=0, msg=name)
    added = sorted(set(seen.state) - set(expected))
    assert added and all(name.startswith("gate.") for name in added)
    runs = json.loads(result.bundle.read_text())["training"]["lineage"]["runs"]
    assert len(runs) == 2 and f"layers added: gate ({len(added)} tensors)" in runs[1]["init_from"]


def test_extend_is_needed_to_add_layers_and_refuses_changed_tensors(residual_bundle, mr_root, tmp_path, capsys):
    base = ["--config", str(CONFIG), *TINY, *RESIDUAL, f"data.root={mr_root}", "--init-from", str(residual_bundle)]
    out = tmp_path / "run"
    assert train_main([*base, *GATED, f"trainer.output_dir={out}"]) == 2
    assert "model.overrides.air_gate" in capsys.readouterr().err
    wider = "model.overrides={inner_config: {chans: 8, num_pool_layers: 2}, air_gate: true}"
    assert train_main([*base, wider, "--extend", f"trainer.output_dir={out}"]) == 2
    err = capsys.readouterr().err
    assert "--extend only adds layers" in err and "net." in err
    assert not (out / "checkpoints").exists()


def test_reinit_keeps_the_named_tensors_at_their_initialisation(residual_bundle, mr_root, tmp_path, capsys):
    """``--reinit net.head`` loads every tensor of the bundle but the head's, which restarts at zero (the
    residual denoiser's head is zero-initialised: "no correction"); the card's lineage says so."""
    overrides = [*TINY, *RESIDUAL, "trainer.max_steps=1", f"data.root={mr_root}"]
    config = load_config(CONFIG, [*overrides, f"trainer.output_dir={tmp_path / 'restart'}"])
    seen = _StartingWeights()
    result = train(config, init_from=str(residual_bundle), reinit=("net.head",), command="restart", callbacks=[seen])
    expected = load_bundle(read_bundle(residual_bundle)).model.state_dict()
    heads = [name for name in expected if name.startswith("net.head")]
    assert heads and any(expected[name].abs().max() > 0 for name in heads)  # trained: not zero in the bundle
    for name, tensor in expected.items():
        wanted = torch.zeros_like(tensor) if name in heads else tensor
        torch.testing.assert_close(seen.state[name], wanted, rtol=0, atol=0, msg=name)
    runs = json.loads(result.bundle.read_text())["training"]["lineage"]["runs"]
    assert "re-initialised: net.head" in runs[-1]["init_from"]
    argv = ["--config", str(CONFIG), *overrides, f"trainer.output_dir={tmp_path / 'x'}"]
    assert train_main([*argv, "--init-from", str(residual_bundle), "--reinit", "net.nothing"]) == 2
    assert "--reinit net.nothing: no tensor" in capsys.readouterr().err
    assert train_main([*argv, "--reinit", "net.head"]) == 2
    assert "give --init-from too" in capsys.readouterr().err


def test_extend_without_init_from_is_a_usage_error(mr_root, tmp_path, capsys):
    argv = ["--config", str(CONFIG), *TINY, *RESIDUAL, f"data.root={mr_root}", f"trainer.output_dir={tmp_path}"]
    assert train_main([*argv, "--extend"]) == 2
    assert "--extend" in capsys.readouterr().err
