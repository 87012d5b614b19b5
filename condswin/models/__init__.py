"""Networks of ConditionalSwin, built by name through :func:`build_model`.

Importing this package registers every architecture family (each module calls ``register_model``).
"""
from condswin.models.registry import ModelSpec, build_model, get_model_spec, list_models, model_config, register_model

# Architecture families register their named variants on import.
from condswin.models import swin_unet  # noqa: F401,E402
from condswin.models import cdae, lintunet, unet, unet_dctd_a  # noqa: F401,E402

__all__ = ["ModelSpec", "build_model", "get_model_spec", "list_models", "model_config", "register_model"]
