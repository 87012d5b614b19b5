"""The benchmark report reuses a claims arm only when an earlier run of the very same command left its bundle."""

from __future__ import annotations

import json
from pathlib import Path

from benchreport.claims import _trained_before
from benchreport.claims_text import claims_markdown


def _bundle(out: Path, command: str) -> None:
    (out / "bundle").mkdir(parents=True)
    card = {"training": {"command": command}, "metrics": {"val_dice": 0.5}}
    (out / "bundle" / "model_card.json").write_text(json.dumps(card))


def test_an_arm_is_reused_only_for_the_identical_command(tmp_path: Path):
    command = "python Training/train.py --config a.yaml trainer.max_steps=300"
    assert _trained_before(tmp_path / "none", command) is None
    _bundle(tmp_path / "arm", command)
    earlier = _trained_before(tmp_path / "arm", command)
    assert earlier is not None and earlier["metrics"] == {"val_dice": 0.5}
    assert earlier["bundle"] == str(tmp_path / "arm" / "bundle")
    assert _trained_before(tmp_path / "arm", command.replace("300", "301")) is None


def test_the_document_names_the_reused_arms():
    claims = {"steps": 300, "precision": "32-true", "seg": {"unet": {"reused": True}, "lintunet": {}}, "denoise": {}}
    text = claims_markdown(claims)
    assert "`unet`" in text and "`lintunet`" not in text
    assert "reused" not in claims_markdown({**claims, "seg": {"unet": {}}})
