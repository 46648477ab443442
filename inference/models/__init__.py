"""Default model files (installed offline from PyPI data packages)."""

from inference.models.defaults import DEFAULT_MODELS, ensure_default_models

__all__ = ["DEFAULT_MODELS", "ensure_default_models"]
