"""``Training/campaign.py`` end to end on tiny data with a budget of seconds: start from the installed default,
resume its own run folder the next time, embed only by the default decision, stop cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from model_support import script_main, write_mr_subjects

from condswin.bundles import embed_bundle, read_registry
from condswin.training.checkpoint import read_checkpoint
from condswin.training.modules import CHECKPOINT_KEY

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "Training" / "configs" / "denoise_rician_cdae.yaml"
TINY = [
    "model.name=unet",
    "model.overrides={chans: 4, num_pool_layers: 2}",
    "trainer.batch_size=2",
    "trainer.accelerator=cpu",
    "trainer.devices=1",
    "trainer.precision=32-true",
    "trainer.log_every=1",
    "data.workers=0",
    "data.size=[32,32]",
    "export.id=tiny-denoiser",
]

train_main = script_main("train")
campaign_main = script_main("campaign")
pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture()
def setup(tmp_path: Path) -> dict[str, Path]:
    """Data root (mri/ with four small volumes), a registry whose denoising default fits the recipe, the recipe."""
    data = tmp_path / "data"
    data.mkdir()
    write_mr_subjects(data / "mri", 4, shape=(3, 36, 32))
    first = tmp_path / "first"
    (first / "train").mkdir(parents=True)
    for n in (0, 1):
        (first / "train" / f"subject{n}.nii.gz").symlink_to(data / "mri" / f"subject{n}.nii.gz")
    argv = ["--config", str(CONFIG), *TINY, "trainer.max_steps=2", "trainer.max_epochs=10", "data.val_volumes=1"]
    assert train_main([*argv, f"data.root={first / 'train'}", f"trainer.output_dir={first}"]) == 0
    models = tmp_path / "Models"
    embed_bundle(first / "bundle", models, default=True)
    recipe = {
        "tasks": {
            "denoise": {
                "default": "tiny-denoiser",
                "config": str(CONFIG),
                "overrides": [
                    *TINY,
                    "data.root={folders}/train",
                    "data.val_root={folders}/val",
                    "data.val_volumes=0",
                    "trainer.max_steps=-1",
                    "trainer.max_epochs=100000",
                ],
                "folders": {
                    "train": ["mri/subject0.nii.gz", "mri/subject1.nii.gz"],
                    "val": ["mri/subject2.nii.gz"],
                    "heldout": ["mri/subject3.nii.gz"],
                },
                "held_out": [{"folder": "heldout", "kind": "mr_volumes", "description": "one small test volume"}],
                "limits": "a tiny test model",
                "fp16": False,
                "sigmas": [0.05],
            }
        }
    }
    recipes = tmp_path / "campaign.yaml"
    recipes.write_text(json.dumps(recipe))  # JSON is YAML
    return {"data": data, "models": models, "recipes": recipes, "runs": tmp_path / "runs"}


def _args(setup: dict[str, Path], hours: str = "0.0008") -> list[str]:
    return [
        "--hours",
        hours,
        "--tasks",
        "denoise",
        "--recipes",
        str(setup["recipes"]),
        "--data-root",
        str(setup["data"]),
        "--runs",
        str(setup["runs"]),
        "--models-dir",
        str(setup["models"]),
        "--no-nice",
    ]


def _log(setup: dict[str, Path]) -> list[dict]:
    return [json.loads(line) for line in (setup["runs"] / "campaign.log").read_text().splitlines()]


def test_campaign_starts_from_the_default_then_resumes_its_run(setup):
    default_sha = read_registry(setup["models"] / "models.json")[0].card.sha256
    assert campaign_main(_args(setup)) == 0
    [first] = _log(setup)
    assert first["task"] == "denoise" and first["start"] == "initialised from tiny-denoiser"
    run_dir = Path(first["run_dir"])
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "learning_curve.png").is_file()
    card = json.loads((run_dir / "bundle" / "model_card.json").read_text())
    runs = card["training"]["lineage"]["runs"]
    assert len(runs) == 2 and runs[1]["init_from"].startswith(f"tiny-denoiser (sha256 {default_sha[:12]}")
    decision = first["decision"]
    assert decision["current_default"]["id"] == "tiny-denoiser" and isinstance(decision["candidate"], float)
    registered = read_registry(setup["models"] / "models.json")[0].card
    assert (registered.sha256 != default_sha) == (first["status"] == "embedded") == decision["replaces"]

    assert campaign_main(_args(setup)) == 0
    second = _log(setup)[1]
    assert second["run_dir"] == first["run_dir"]  # the same recipe continues in its own folder
    assert second["start"] == f"resumed from {run_dir / 'checkpoints' / 'last.ckpt'}"
    # the latest weights carry the default's run, the first campaign process and the resumed one
    latest = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")[CHECKPOINT_KEY]["lineage"]
    assert len(latest) == 3 and "--init-from" in latest[1]["command"] and "--resume" in latest[2]["command"]
    # the exported (best) weights carry the history of exactly their checkpoint
    runs = json.loads((run_dir / "bundle" / "model_card.json").read_text())["training"]["lineage"]["runs"]
    assert second["lineage_totals"]["steps"] == sum(r["steps"] for r in runs)


def test_export_elsewhere_then_embed_here(setup, tmp_path):
    registry = setup["models"] / "models.json"
    before = registry.read_bytes()
    exported = tmp_path / "out"
    assert campaign_main([*_args(setup), "--export-to", str(exported)]) == 0
    assert _log(setup)[-1]["status"] == "exported"
    assert registry.read_bytes() == before  # nothing embedded on the training machine
    card = json.loads((exported / "denoise" / "model_card.json").read_text())
    assert len(card["training"]["lineage"]["runs"]) == 2

    args = _args(setup)
    del args[:2]  # no --hours: embedding trains nothing
    assert campaign_main([*args, "--embed-from", str(exported)]) == 0
    record = _log(setup)[-1]
    assert record["status"] in ("embedded", "kept the default")
    assert record["decision"]["current_default"]["id"] == "tiny-denoiser"
    assert (registry.read_bytes() != before) == record["decision"]["replaces"]


@pytest.mark.parametrize("hours", ["0", "-1", "abc", "nan", "inf"])
def test_hours_must_be_a_positive_number(setup, hours, capsys):
    assert campaign_main(_args(setup, hours)) == 2
    assert "--hours" in capsys.readouterr().err
    assert not setup["runs"].exists()


def test_unknown_task_and_bad_recipe_are_usage_errors(setup, capsys):
    args = _args(setup)
    args[args.index("denoise")] = "seg"
    assert campaign_main(args) == 2
    assert "no recipe for seg" in capsys.readouterr().err
    recipe = json.loads(setup["recipes"].read_text())
    recipe["tasks"]["denoise"]["epochs"] = 3
    setup["recipes"].write_text(json.dumps(recipe))
    assert campaign_main(_args(setup)) == 2
    assert "tasks.denoise.epochs: unknown key" in capsys.readouterr().err


def test_a_recipe_that_also_trains_or_validates_on_a_held_out_file_is_refused(setup, capsys):
    recipe = json.loads(setup["recipes"].read_text())
    recipe["tasks"]["denoise"]["folders"]["val"].append("mri/subject3.nii.gz")
    setup["recipes"].write_text(json.dumps(recipe))
    assert campaign_main(_args(setup)) == 2
    assert "held_out[0]: mri/subject3.nii.gz is also a training or validation input" in capsys.readouterr().err


def test_a_recipe_whose_overrides_read_a_held_out_folder_is_refused(setup, capsys):
    recipe = json.loads(setup["recipes"].read_text())
    recipe["tasks"]["denoise"]["overrides"].append("data.val_root={folders}/heldout")
    setup["recipes"].write_text(json.dumps(recipe))
    assert campaign_main(_args(setup)) == 2
    assert "reads the held-out folder 'heldout'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("train", "folders.train: mri/subject3.nii.gz is validation-only data"),
        ("override", "names mri/subject3.nii.gz, which is validation-only data"),
    ],
)
def test_a_validation_only_file_can_only_be_held_out(setup, capsys, change, message):
    """A file listed under validation_only is refused as a training input or in an override; held out, it is
    accepted."""
    from condswin.training.campaign import load_recipes

    recipe = json.loads(setup["recipes"].read_text())
    recipe["validation_only"] = ["mri/subject3.nii.gz"]
    setup["recipes"].write_text(json.dumps(recipe))
    assert set(load_recipes(setup["recipes"])) == {"denoise"}
    task = recipe["tasks"]["denoise"]
    if change == "train":
        task["folders"]["train"].append(task["folders"].pop("heldout")[0])
        task["folders"]["heldout"] = ["mri/subject2.nii.gz"]
        task["folders"]["val"] = []
    else:
        task["overrides"].append("data.val_root={data}/mri/subject3.nii.gz")
    setup["recipes"].write_text(json.dumps(recipe))
    assert campaign_main(_args(setup)) == 2
    assert message in capsys.readouterr().err


def test_the_shipped_campaign_and_configs_never_train_on_the_validation_only_ct():
    """Volume 1001 (no-derivatives licence) is declared validation-only, the shipped recipes pass that check
    (load_recipes refuses them otherwise), and no shipped training config names it."""
    import yaml

    from condswin.training.campaign import load_recipes

    shipped = ROOT / "Training" / "campaign.yaml"
    declared = yaml.safe_load(shipped.read_text())["validation_only"]
    assert {"ct/volume-1001.nii.gz", "ct/segmentation-1001.nii.gz"} <= set(declared)
    recipes = load_recipes(shipped)
    for recipe in recipes.values():
        held = {str(h.folder) for h in recipe.held_out}
        trained = {f for folder, files in recipe.folders.items() if folder not in held for f in files}
        assert not trained & set(declared)
    for config in sorted((ROOT / "Training" / "configs").glob("*.yaml")):
        text = config.read_text()
        assert not any(Path(f).name.split(".")[0] in text for f in declared), config.name


def test_sigterm_keeps_a_usable_checkpoint_and_embeds_nothing(setup):
    registry = setup["models"] / "models.json"
    before = registry.read_bytes()
    args = [*_args(setup, "0.05"), "--checkpoint-every", "0.002"]  # 3 minutes of budget, checkpoints every 0.1 s
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "Training" / "campaign.py"), *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        checkpoint = None
        while time.monotonic() < deadline and checkpoint is None:
            found = list(setup["runs"].glob("denoise-*/checkpoints/last.ckpt"))
            checkpoint = found[0] if found else None
            time.sleep(0.2)
        assert checkpoint is not None, "training never wrote a checkpoint"
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert "nothing was embedded half-way" in err
    state = read_checkpoint(checkpoint)  # the kept checkpoint is complete and records its lineage
    assert state[CHECKPOINT_KEY]["lineage"][-1]["steps"] >= 1
    assert registry.read_bytes() == before
    assert not (checkpoint.parents[1] / "bundle").exists()
    assert _log(setup)[-1]["status"] == "interrupted"


def test_every_shipped_recipe_continues_its_installed_default(shared_data, tmp_path):
    """The recipes of Training/campaign.yaml find their data and describe exactly the network and contract of the
    default each continues (else the campaign's --init-from would refuse it), on the CPU and on a GPU."""
    from condswin.training.campaign import TASK_NAMES, load_recipes, prepare_recipe
    from condswin.training.config import load_config
    from condswin.training.finetune import check_init_source, resolve_init_source

    recipes = load_recipes(ROOT / "Training" / "campaign.yaml")
    assert set(recipes) == set(TASK_NAMES)
    for recipe in recipes.values():
        for gpu in (False, True):
            prepared = prepare_recipe(recipe, ROOT, shared_data, tmp_path / "runs", gpu=gpu)
            config = load_config(prepared.config_path, prepared.overrides)
            source = resolve_init_source(recipe.default)
            assert source.bundle.card.extras.get("default") is True
            check_init_source(config, source, recipe.extend)
        held = {h.folder for h in recipe.held_out}
        trained = str(config.data.root or "") + str(config.data.val_root or "")
        assert not any(f"/{folder}" in trained for folder in held)  # held-out data never trains or validates


def test_a_stop_requested_before_training_starts_trains_nothing(setup):
    """A signal while the data is prepared (before Lightning's own SIGTERM handling) stops at the first step."""
    from condswin.training.campaign import CampaignRequest, StopRequest, load_recipes, run_task

    recipe = load_recipes(setup["recipes"])["denoise"]
    stop = StopRequest(requested=True, signum=signal.SIGTERM)
    request = CampaignRequest(
        tasks=("denoise",),
        hours=1.0,  # an hour of budget: only the stop request can end this quickly
        recipes={"denoise": recipe},
        project_root=ROOT,
        data_root=setup["data"],
        runs=setup["runs"],
        models_dir=setup["models"],
        stop=stop,
    )
    outcome = run_task(request, recipe, budget_s=3600.0, log=lambda line: None)
    assert outcome.status == "interrupted"
    assert not (outcome.run_dir / "checkpoints").exists() and not (outcome.run_dir / "bundle").exists()


def test_a_recipe_that_extends_the_default_grows_it_and_names_its_baselines(setup, monkeypatch):
    """``extend: true`` and ``reinit`` reach the training as ``--init-from … --extend --reinit …`` (in the command
    the card keeps too), and ``baselines`` reach the held-out evaluation of the embedding."""
    import dataclasses

    import condswin.training.campaign as campaign
    import condswin.training.embedding as embedding
    import condswin.training.run as run
    from condswin.training.campaign import CampaignRequest, _embed, load_recipes, run_task

    recipe = dataclasses.replace(
        load_recipes(setup["recipes"])["denoise"], extend=True, baselines=("gaussian",), reinit=("net.head",)
    )
    calls: dict = {}

    def fake_train(config, **kwargs):
        calls.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(run, "train", fake_train)
    request = CampaignRequest(
        tasks=("denoise",),
        hours=1.0,
        recipes={"denoise": recipe},
        project_root=ROOT,
        data_root=setup["data"],
        runs=setup["runs"],
        models_dir=setup["models"],
    )
    with pytest.raises(RuntimeError, match="stop here"):
        run_task(request, recipe, budget_s=60.0, log=lambda line: None)
    assert calls["extend"] is True and calls["init_from"] and calls["reinit"] == ("net.head",)
    assert calls["command"].endswith("--extend --reinit net.head") and "--init-from" in calls["command"]

    seen = []
    monkeypatch.setattr(
        campaign, "embed_trained_bundle", lambda req, log: seen.append(req) or embedding.EmbedOutcome(None, {})
    )
    _embed(request, recipe, setup["runs"], setup["runs"], setup["runs"], "start", {}, lambda line: None)
    assert seen[0].extra_baselines == ("gaussian",)


def test_recipe_keys_extend_and_baselines_are_read(setup):
    from condswin.training.campaign import load_recipes

    text = json.loads(setup["recipes"].read_text())
    text["tasks"]["denoise"].update({"extend": True, "baselines": ["nlm", "gaussian"], "reinit": ["net.head"]})
    setup["recipes"].write_text(json.dumps(text))
    recipe = load_recipes(setup["recipes"])["denoise"]
    assert recipe.extend is True and recipe.baselines == ("nlm", "gaussian") and recipe.reinit == ("net.head",)


def test_keep_score_offsets_scores_the_candidate_with_the_defaults_offsets(tiny_bundles, tmp_path, monkeypatch):
    """With ``keep_score_offsets`` the embedding gets a copy of the trained bundle carrying the installed
    default's ``output.score_offsets``; the trained bundle stays as exported; without the key, or with a default
    that has no offsets, the trained bundle goes to the embedding as it is."""
    import dataclasses
    import shutil

    import condswin.training.campaign as campaign
    import condswin.training.embedding as embedding
    from condswin.training.campaign import CampaignRequest, Recipe, _embed

    def card_of(folder: Path) -> dict:
        return json.loads((folder / "model_card.json").read_text())

    trained = tmp_path / "trained"
    shutil.copytree(tiny_bundles["segmentation"], trained)
    exported = (trained / "model_card.json").read_bytes()
    default = tmp_path / "default"
    shutil.copytree(tiny_bundles["segmentation"], default)
    card = card_of(default)
    card["output"]["score_offsets"] = [0.0, 0.0, 2.0]
    (default / "model_card.json").write_text(json.dumps(card))
    models = tmp_path / "Models"
    embed_bundle(default, models, default=True)

    seen: list = []
    monkeypatch.setattr(
        campaign, "embed_trained_bundle", lambda req, log: seen.append(req) or embedding.EmbedOutcome(None, {})
    )
    recipe = Recipe(
        name="seg",
        default="tiny-segmentation",
        config="unused.yaml",
        overrides=(),
        folders={},
        held_out=(),
        limits="a tiny test model",
        keep_score_offsets=True,
    )
    request = CampaignRequest(
        tasks=("seg",),
        hours=1.0,
        recipes={"seg": recipe},
        project_root=ROOT,
        data_root=tmp_path,
        runs=tmp_path,
        models_dir=models,
    )
    record: dict = {}
    work = tmp_path / "work"
    work.mkdir()
    _embed(request, recipe, trained, tmp_path, work, "start", record, lambda line: None)
    scored = seen[-1].bundle
    assert scored != trained and card_of(scored)["output"]["score_offsets"] == [0.0, 0.0, 2.0]
    assert record["score_offsets"] == [0.0, 0.0, 2.0]
    assert (trained / "model_card.json").read_bytes() == exported  # the exported bundle is not changed

    _embed(request, dataclasses.replace(recipe, keep_score_offsets=False), trained, tmp_path, work, "s", {}, print)
    assert seen[-1].bundle == trained

    plain = tmp_path / "Plain"
    embed_bundle(tiny_bundles["segmentation"], plain, default=True)
    record = {}
    _embed(dataclasses.replace(request, models_dir=plain), recipe, trained, tmp_path, work, "s", record, print)
    assert seen[-1].bundle == trained and "score_offsets" not in record


def test_recipe_key_keep_score_offsets_is_read(setup):
    from condswin.training.campaign import load_recipes

    assert load_recipes(setup["recipes"])["denoise"].keep_score_offsets is False
    text = json.loads(setup["recipes"].read_text())
    text["tasks"]["denoise"]["keep_score_offsets"] = True
    setup["recipes"].write_text(json.dumps(text))
    assert load_recipes(setup["recipes"])["denoise"].keep_score_offsets is True


def test_a_new_data_generator_starts_a_new_run_folder(setup, monkeypatch):
    """Generated training data (CT phantoms, MR objects) with a new generator version is new data: the recipe's
    run folder changes, so a resumed run never compares validation scores of two different datasets."""
    from condswin.training.campaign import load_recipes, prepare_recipe
    from condswin.training.data import ct_phantom, mr_volumes

    recipe = load_recipes(setup["recipes"])["denoise"]

    def run_dir() -> Path:
        return prepare_recipe(recipe, ROOT, setup["data"], setup["runs"], gpu=False).run_dir

    first = run_dir()
    assert run_dir() == first
    monkeypatch.setattr(ct_phantom, "CACHE_VERSION", ct_phantom.CACHE_VERSION + "-next")
    second = run_dir()
    monkeypatch.setattr(mr_volumes, "SYNTHETIC_VERSION", mr_volumes.SYNTHETIC_VERSION + "-next")
    assert len({first, second, run_dir()}) == 3
