"""Stores scikit-learn pipelines with joblib.

skops (the safe-to-load format) serialises a fitted TfidfVectorizer's vocabulary entry by entry:
with 200k n-grams that took over 8 minutes here, so the baseline is stored with joblib, as ZenML's
own scikit-learn materializer does. Load baseline artifacts only from stores you trust.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import joblib
from sklearn.pipeline import Pipeline
from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType

FILENAME = "model.joblib"


class SklearnPipelineMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (Pipeline,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> Pipeline:
        with self.artifact_store.open(os.path.join(self.uri, FILENAME), "rb") as fh:
            model = joblib.load(fh)
        if not isinstance(model, Pipeline):
            raise TypeError(f"baseline artifact holds {type(model).__name__}, not a scikit-learn Pipeline")
        return model

    def save(self, data: Pipeline) -> None:
        with self.artifact_store.open(os.path.join(self.uri, FILENAME), "wb") as fh:
            joblib.dump(data, fh, compress=1)

    def extract_metadata(self, data: Pipeline) -> dict[str, MetadataType]:
        return {"steps": [name for name, _ in data.steps], "classes": [str(c) for c in getattr(data, "classes_", [])]}
