"""Stores a `TextClassifier` as one self-describing directory (model + tokenizer + classifier.json).

The directory is exactly what the serving container loads: `save_pretrained` files whose config
carries `id2label`/`label2id`, the tokenizer files, and `classifier.json` with the max length.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType
from zenml.utils import io_utils

from arxiv_classifier.classifier import TextClassifier

#: Sub-directory of the artifact URI that holds the model directory.
MODEL_DIR = "model"


class TextClassifierMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TextClassifier,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> TextClassifier:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            io_utils.copy_dir(os.path.join(self.uri, MODEL_DIR), temp_dir)
            return TextClassifier.load(temp_dir)

    def save(self, data: TextClassifier) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            data.save(temp_dir)
            io_utils.copy_dir(temp_dir, os.path.join(self.uri, MODEL_DIR))

    def save_visualizations(self, data: TextClassifier) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, "summary.md")
        labels = ", ".join(f"`{label}`" for label in data.labels)
        text = (
            f"### Text classifier\n\n- base model: `{data.base_model}`\n- max length: {data.max_length} tokens\n"
            f"- labels ({len(data.labels)}): {labels}\n- load: `TextClassifier.load(<artifact uri>/{MODEL_DIR})`\n"
        )
        with self.artifact_store.open(path, "w") as fh:
            fh.write(text)
        return {path: VisualizationType.MARKDOWN}

    def extract_metadata(self, data: TextClassifier) -> dict[str, MetadataType]:
        return {
            "base_model": data.base_model,
            "max_length": data.max_length,
            "num_labels": len(data.labels),
            "labels": list(data.labels),
            "parameters": int(sum(p.numel() for p in data.model.parameters())),
        }
