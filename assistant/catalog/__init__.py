"""The model catalog: the manifest of default models, where their files are, and checks."""

from assistant.catalog.manifest import ManifestEntry, load_manifest
from assistant.catalog.store import ModelStore, ResolvedModel

__all__ = ["ManifestEntry", "ModelStore", "ResolvedModel", "load_manifest"]
