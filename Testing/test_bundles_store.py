"""Model bundles: save/load round trip, sha256 refusal, size check on meta, registry search and embedding.

Card parsing and the typed card are tested in ``test_bundles_card.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest
import torch

from condswin.bundles import (
    CARD_FILENAME,
    MODEL_PATH_ENV,
    BundleChecksumError,
    BundleError,
    BundleNotFoundError,
    card_template,
    discover_bundles,
    embed_bundle,
    embedded_models_dir,
    load_bundle,
    read_bundle,
    read_registry,
    resolve_bundle,
    save_bundle,
    sha256_file,
)
from condswin.models import build_model


def _card(card_id: str = "tiny-seg", task: str = "segmentation") -> dict:
    return card_template(card_id, task, training_data="none: freshly initialised test model", training_command="pytest")


@pytest.fixture()
def seg_bundle(tiny_bundles: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the shared segmentation bundle (these tests tamper with it)."""
    return Path(shutil.copytree(tiny_bundles["segmentation"], tmp_path / "seg"))


def test_round_trip_restores_identical_network(tmp_path: Path) -> None:
    model = build_model("swin_unet_1l", 1, 3, embed_dim=16, num_heads=(2, 4), mlp_hidden=32).eval()
    card_path = save_bundle(model, _card(), tmp_path / "b")
    card = json.loads(card_path.read_text())
    # Only the overrides are stored, so the card stays readable and build_model reproduces the network.
    assert card["config"] == {"embed_dim": 16, "num_heads": [2, 4], "mlp_hidden": 32}
    assert card["architecture"] == "swin_unet_1l" and (card["in_channels"], card["out_channels"]) == (1, 3)
    assert card["sha256"] == sha256_file(tmp_path / "b" / card["weights"])
    loaded = load_bundle(read_bundle(tmp_path / "b"))
    assert not loaded.model.training
    assert loaded.card.config == {"embed_dim": 16, "num_heads": (2, 4), "mlp_hidden": 32}  # typed, read-only
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():  # not inference_mode: it would leave inference tensors in the Swin layout cache
        assert torch.equal(model(x), loaded.model(x))


def test_tampered_weights_are_refused_naming_the_file(seg_bundle: Path) -> None:
    weights = seg_bundle / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # one flipped bit in a tensor: still a valid safetensors file, but not the card's
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleChecksumError, match=str(weights).replace("\\", "\\\\")):
        load_bundle(read_bundle(seg_bundle))


def test_missing_weights_and_mismatched_architecture(seg_bundle: Path) -> None:
    card = json.loads((seg_bundle / CARD_FILENAME).read_text())
    card["config"] = {"chans": 2, "num_pool_layers": 2}  # weights were saved for chans=4
    (seg_bundle / CARD_FILENAME).write_text(json.dumps(card))
    with pytest.raises(BundleError, match="do not fit"):
        load_bundle(read_bundle(seg_bundle))
    (seg_bundle / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="not found"):
        load_bundle(read_bundle(seg_bundle))


def test_save_refuses_existing_folder_and_inconsistent_card(seg_bundle: Path, tmp_path: Path) -> None:
    model = build_model("unet", 1, 3, chans=4, num_pool_layers=2)
    before = (seg_bundle / CARD_FILENAME).read_bytes()
    with pytest.raises(BundleError, match="already exists"):
        save_bundle(model, _card(), seg_bundle)
    assert (seg_bundle / CARD_FILENAME).read_bytes() == before
    with pytest.raises(BundleError, match="out_channels"):
        save_bundle(model, {**_card(), "out_channels": 2}, tmp_path / "other")
    with pytest.raises(BundleError, match="training.data"):
        save_bundle(model, card_template("x", "segmentation"), tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["seg"]  # no temporary folder left behind


def test_embedded_registry_is_valid_and_every_weight_matches() -> None:
    registry = embedded_models_dir() / "models.json"
    data = json.loads(registry.read_text())
    bundles = read_registry(registry)
    assert len(bundles) == len(data["models"])
    for entry in data["models"]:  # exactly what the before-stop hook reads
        assert sha256_file(embedded_models_dir() / entry["weights"]) == entry["sha256"]
    total = sum(p.stat().st_size for p in embedded_models_dir().rglob("*") if p.is_file())
    assert total < 60 * 2**20


def test_resolve_by_id_from_the_environment_and_shadowing(
    seg_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_bundle
) -> None:
    other = tmp_path / "more"
    make_bundle(other / "seg-again", "segmentation")  # the same id, further down the search path
    monkeypatch.setenv(MODEL_PATH_ENV, f"{seg_bundle}{os.pathsep}{other}")
    bundles, problems = discover_bundles()
    assert [b.source for b in bundles if b.id == "tiny-segmentation"] == [seg_bundle / CARD_FILENAME]
    assert any("shadowed" in p for p in problems)
    assert resolve_bundle("tiny-segmentation", task="segmentation").root == seg_bundle
    with pytest.raises(BundleError, match="not a denoising model"):
        resolve_bundle("tiny-segmentation", task="denoising")
    with pytest.raises(BundleNotFoundError, match="available segmentation models: tiny-segmentation"):
        resolve_bundle("no-such-model", task="segmentation")
    monkeypatch.setenv(MODEL_PATH_ENV, str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("CONDSWIN_EMBEDDED_MODELS", str(tmp_path / "empty"))  # hide the embedded models too
    with pytest.raises(BundleNotFoundError, match="no denoising model is installed"):
        resolve_bundle("no-such-model", task="denoising")


def test_resolve_by_path_accepts_folder_and_card_file(seg_bundle: Path) -> None:
    assert resolve_bundle(seg_bundle).id == "tiny-segmentation"
    assert resolve_bundle(seg_bundle / CARD_FILENAME).id == "tiny-segmentation"
    with pytest.raises(BundleNotFoundError, match="no such model bundle"):
        resolve_bundle(seg_bundle / "nothing-here")


def test_embed_bundle_copies_weights_and_registers(seg_bundle: Path, tmp_path: Path) -> None:
    registry_dir = tmp_path / "Models"
    bundle = embed_bundle(seg_bundle, registry_dir)
    data = json.loads((registry_dir / "models.json").read_text())
    assert [e["id"] for e in data["models"]] == ["tiny-segmentation"]
    sha = read_bundle(seg_bundle).card.sha256
    weights = f"tiny-segmentation/model-{sha[:12]}.safetensors"  # named by its content
    assert data["models"][0]["weights"] == weights
    loaded = load_bundle(bundle)  # checksum verified against the copied file
    assert loaded.card == read_bundle(seg_bundle).card.replace(weights=weights)
    with pytest.raises(BundleError, match="already registered"):
        embed_bundle(seg_bundle, registry_dir)
    embed_bundle(seg_bundle, registry_dir, overwrite=True)
    assert sorted(p.name for p in (registry_dir / "tiny-segmentation").iterdir()) == [Path(weights).name]
    assert len(read_registry(registry_dir / "models.json")) == 1


def test_absurd_config_is_refused_before_allocating(seg_bundle: Path) -> None:
    """A card whose config (each field within its limit) would build terabytes of parameters is refused from a
    build on torch's meta device, compared with the weights file's header."""
    card = json.loads((seg_bundle / CARD_FILENAME).read_text())
    card["config"] = {"chans": 1024, "num_pool_layers": 8}  # ~8 TB of float32 parameters
    (seg_bundle / CARD_FILENAME).write_text(json.dumps(card))
    with pytest.raises(BundleError, match=r"of another shape: .*the network's tensors take [\d,]{15,} bytes"):
        load_bundle(read_bundle(seg_bundle))


def test_one_invalid_card_hides_no_other_bundle(
    tiny_bundles: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invalid card in a folder of bundles (or registry entry) is skipped with a problem naming its file."""
    folder = tmp_path / "models"
    for task in ("segmentation", "denoising"):
        shutil.copytree(tiny_bundles[task], folder / task)
    broken = folder / "broken"
    shutil.copytree(tiny_bundles["reconstruction"], broken)
    card = json.loads((broken / CARD_FILENAME).read_text())
    card["input"]["size"] = [100_000, 100_000]
    (broken / CARD_FILENAME).write_text(json.dumps(card))
    registry = tmp_path / "registry"
    registry.mkdir()
    good = json.loads((tiny_bundles["denoising"] / CARD_FILENAME).read_text())
    entries = [{**good, "id": "listed-ok"}, {**good, "id": "listed-bad", "in_channels": 5}]
    (registry / "models.json").write_text(json.dumps({"models": entries}))
    monkeypatch.setenv(MODEL_PATH_ENV, f"{folder}{os.pathsep}{registry}")
    bundles, problems = discover_bundles()
    assert {b.id for b in bundles} >= {"tiny-segmentation", "tiny-denoising", "listed-ok"}
    assert "tiny-reconstruction" not in {b.id for b in bundles}
    assert any(str(broken / CARD_FILENAME) in p and "input.size[0]" in p for p in problems)
    assert any("models[1]: in_channels" in p for p in problems)
    assert resolve_bundle("tiny-denoising", task="denoising").root == folder / "denoising"
    with pytest.raises(BundleError, match="in_channels"):  # reading the registry on its own stays strict
        read_registry(registry / "models.json")


@pytest.mark.parametrize("umask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_bundle_files_follow_the_umask(tmp_path: Path, umask: int, file_mode: int, folder_mode: int) -> None:
    """safetensors writes through a private temporary file; the bundle still gets the user's usual modes."""
    old = os.umask(umask)
    try:
        save_bundle(build_model("unet", 1, 3, chans=4, num_pool_layers=2), _card(), tmp_path / "b")
        embed_bundle(tmp_path / "b", tmp_path / "Models")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == folder_mode
    for path in (
        tmp_path / "b" / CARD_FILENAME,
        tmp_path / "b" / "model.safetensors",
        tmp_path / "Models" / "models.json",
        *(tmp_path / "Models" / "tiny-seg").glob("model-*.safetensors"),
    ):
        assert stat.S_IMODE(path.stat().st_mode) == file_mode, path


def test_replacing_an_embedded_model_is_one_commit_a_kill_cannot_split(tmp_path: Path, monkeypatch) -> None:
    """New weights never overwrite the listed ones: a process killed before the registry is written leaves the
    registry and the weights it names intact; once written, the replaced weights file is gone."""
    import condswin.bundles.registry as registry

    registry_dir = tmp_path / "Models"
    for name, seed in (("a", 0), ("b", 1)):
        torch.manual_seed(seed)
        save_bundle(build_model("unet", 1, 3, chans=4, num_pool_layers=2), _card(), tmp_path / name)
    embed_bundle(tmp_path / "a", registry_dir)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies between the weights copy and the registry write

    monkeypatch.setattr(registry, "write_json_atomic", killed)
    with pytest.raises(KeyboardInterrupt):
        embed_bundle(tmp_path / "b", registry_dir, overwrite=True)
    [entry] = read_registry(registry_dir / "models.json")
    assert entry.card.sha256 == read_bundle(tmp_path / "a").card.sha256
    load_bundle(entry)  # the listed weights still match their checksum

    monkeypatch.undo()
    [replaced] = [embed_bundle(tmp_path / "b", registry_dir, overwrite=True)]
    load_bundle(replaced)
    listed = replaced.card.weights
    leftovers = sorted(p.name for p in (registry_dir / "tiny-seg").iterdir())
    # the old file is removed; the orphan of the killed attempt is the new content itself, now listed
    assert leftovers == [Path(listed).name]


def test_half_precision_bundle_halves_the_file_and_loads_as_float32(tmp_path: Path) -> None:
    model = build_model("unet", 1, 1, chans=8, num_pool_layers=2).eval()
    save_bundle(model, _card("full", "denoising"), tmp_path / "full")
    save_bundle(model, _card("half", "denoising"), tmp_path / "half", dtype="float16")
    assert next(model.parameters()).dtype == torch.float32  # the network passed in is not cast
    full, half = read_bundle(tmp_path / "full"), read_bundle(tmp_path / "half")
    assert half.card.extras["weights_dtype"] == "float16" and "weights_dtype" not in full.card.extras
    ratio = half.weights_path.stat().st_size / full.weights_path.stat().st_size
    assert 0.45 < ratio < 0.6
    loaded = load_bundle(half)  # the size check accounts for 2-byte values
    assert all(p.dtype == torch.float32 for p in loaded.model.parameters())
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        reference, output = model(x), loaded.model(x)
    assert not torch.equal(reference, output)  # really rounded to fp16 ...
    torch.testing.assert_close(output, reference, rtol=1e-2, atol=1e-3)  # ... and close


def test_unknown_weights_dtype_is_refused(tmp_path: Path) -> None:
    model = build_model("unet", 1, 1, chans=8, num_pool_layers=2)
    with pytest.raises(BundleError, match="int8"):
        save_bundle(model, _card("x", "denoising"), tmp_path / "x", dtype="int8")
    save_bundle(model, _card("y", "denoising"), tmp_path / "y", dtype="float16")
    card_file = tmp_path / "y" / CARD_FILENAME
    card_file.write_text(card_file.read_text().replace('"float16"', '"int8"'))
    with pytest.raises(BundleError, match="weights_dtype 'int8'"):
        load_bundle(read_bundle(tmp_path / "y"))
