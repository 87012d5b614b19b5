"""Model bundles: model cards, safetensors weights with sha256 checks, and the registry of models.

- :mod:`condswin.bundles.card` — the card contract (``validate_card``, LiTS labels with terminology).
- :mod:`condswin.bundles.store` — ``save_bundle`` (training's output), ``load_bundle`` (checksum first).
- :mod:`condswin.bundles.registry` — ``resolve_bundle`` by id or path, ``discover_bundles`` over
  ``CONDSWIN_MODEL_PATH`` and the embedded ``Resources/Models/models.json``, ``embed_bundle``.

Typical use::

    bundle = resolve_bundle("lits-cswin-light-2l", task="segmentation")   # or a bundle folder
    loaded = load_bundle(bundle, device="cpu")                             # BundleChecksumError if tampered
"""

from condswin.bundles.card import CARD_FILENAME, LITS_LABELS, TASKS, BundleError, card_template, validate_card
from condswin.bundles.registry import (
    MODEL_PATH_ENV,
    BundleNotFoundError,
    discover_bundles,
    embed_bundle,
    embedded_models_dir,
    read_bundle,
    read_registry,
    resolve_bundle,
)
from condswin.bundles.store import (
    Bundle,
    BundleChecksumError,
    LoadedModel,
    build_from_card,
    load_bundle,
    save_bundle,
    sha256_file,
    verify_weights,
)

__all__ = [
    "CARD_FILENAME",
    "LITS_LABELS",
    "MODEL_PATH_ENV",
    "TASKS",
    "Bundle",
    "BundleChecksumError",
    "BundleError",
    "BundleNotFoundError",
    "LoadedModel",
    "build_from_card",
    "card_template",
    "discover_bundles",
    "embed_bundle",
    "embedded_models_dir",
    "load_bundle",
    "read_bundle",
    "read_registry",
    "resolve_bundle",
    "save_bundle",
    "sha256_file",
    "validate_card",
    "verify_weights",
]
