"""Stores scikit-learn pipelines with skops (safe to load, unlike pickle)."""

from __future__ import annotations

import os
from typing import Any, ClassVar

from sklearn.pipeline import Pipeline
from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

FILENAME = "model.skops"


class SklearnPipelineMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (Pipeline,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> Pipeline:
        import skops.io as sio

        with self.artifact_store.open(os.path.join(self.uri, FILENAME), "rb") as fh:
            blob = fh.read()
        trusted = sio.get_untrusted_types(data=blob)
        allowed = [t for t in trusted if t.startswith(("sklearn.", "numpy.", "scipy.", "builtins."))]
        if set(allowed) != set(trusted):
            raise ValueError(
                f"refusing to load unexpected types from the baseline artifact: {set(trusted) - set(allowed)}"
            )
        return sio.loads(blob, trusted=allowed)

    def save(self, data: Pipeline) -> None:
        import skops.io as sio

        with self.artifact_store.open(os.path.join(self.uri, FILENAME), "wb") as fh:
            fh.write(sio.dumps(data))

    def extract_metadata(self, data: Pipeline) -> dict[str, MetadataType]:
        return {"steps": [name for name, _ in data.steps], "classes": [str(c) for c in getattr(data, "classes_", [])]}
