"""Model bundles: typed model cards, safetensors weights with sha256 checks, and the registry of models.

- :mod:`condswin.bundles.card` — :class:`ModelCard` (frozen, typed; ``to_dict()`` for JSON), ``card_template``.
- :mod:`condswin.bundles.contract` — the input/output contract (:class:`ModelContract`, :class:`Normalization`,
  :class:`Label`) and the card defaults, which training and inference share: HU window, percentiles, size
  bounds, LiTS labels with terminology.
- :mod:`condswin.bundles.parse` — ``parse_card``: the one place JSON becomes a :class:`ModelCard`.
- :mod:`condswin.bundles.store` — ``save_bundle`` (training's output), ``load_bundle`` (checksum first).
- :mod:`condswin.bundles.registry` — ``resolve_bundle`` by id or path, ``discover_bundles`` over
  ``CONDSWIN_MODEL_PATH`` and the embedded ``Resources/Models/models.json``, ``embed_bundle``.

Typical use::

    bundle = resolve_bundle("lits-cswin-light-2l", task="segmentation")   # or a bundle folder
    loaded = load_bundle(bundle, device="cpu")                             # BundleChecksumError if tampered
    loaded.card.contract.normalization, loaded.card.labels                 # typed, read-only
"""

from condswin.bundles.card import CARD_FILENAME, TASKS, BundleError, ModelCard, TrainingInfo, card_template
from condswin.bundles.contract import LITS_LABELS, Code, Label, ModelContract, Normalization, Terminology
from condswin.bundles.parse import parse_card
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
    "Code",
    "Label",
    "LoadedModel",
    "ModelCard",
    "ModelContract",
    "Normalization",
    "Terminology",
    "TrainingInfo",
    "build_from_card",
    "card_template",
    "discover_bundles",
    "embed_bundle",
    "embedded_models_dir",
    "load_bundle",
    "parse_card",
    "read_bundle",
    "read_registry",
    "resolve_bundle",
    "save_bundle",
    "sha256_file",
    "verify_weights",
]
