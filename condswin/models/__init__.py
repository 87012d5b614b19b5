"""Networks of ConditionalSwin, built by name through :func:`build_model`.

Importing this package registers every architecture family (each module calls ``register_model``).
"""

# Architecture families register their named variants on import.
from condswin.models import (  # noqa: F401,E402
    cdae,
    data_consistency,
    lintunet,
    residual_denoiser,
    swin_unet,  # noqa: F401,E402
    unet,
    unet_dctd_a,
    unrolled,
)
from condswin.models.registry import ModelSpec, build_model, get_model_spec, list_models, model_config, register_model

__all__ = ["ModelSpec", "build_model", "get_model_spec", "list_models", "model_config", "register_model"]
