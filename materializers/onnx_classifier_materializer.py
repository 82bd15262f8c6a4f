"""Stores an `OnnxClassifier` as its self-describing directory (model.onnx + tokenizer + classifier.json).

The same layout as the PyTorch classifier's artifact (`<uri>/model`), so a deployer serves either
format from `model_dir_of(artifact.uri)`.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from zenml.enums import ArtifactType, VisualizationType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.metadata.metadata_types import MetadataType
from zenml.utils import io_utils

from arxiv_classifier.onnx_export import OnnxClassifier
from materializers.text_classifier_materializer import MODEL_DIR


class OnnxClassifierMaterializer(BaseMaterializer):
    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (OnnxClassifier,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.MODEL

    def load(self, data_type: type[Any]) -> OnnxClassifier:
        # Kept until the step ends (outside a step: until the process removes it): the object is a path.
        with self.get_temporary_directory(delete_at_exit=False) as temp_dir:
            io_utils.copy_dir(os.path.join(self.uri, MODEL_DIR), temp_dir)
            return OnnxClassifier(temp_dir)

    def save(self, data: OnnxClassifier) -> None:
        io_utils.copy_dir(str(data.path), os.path.join(self.uri, MODEL_DIR))

    def save_visualizations(self, data: OnnxClassifier) -> dict[str, VisualizationType]:
        path = os.path.join(self.uri, "summary.md")
        quant = data.meta.get("quantization")
        text = (
            f"### ONNX classifier ({data.format})\n\n- base model: `{data.meta.get('base_model', '')}`\n"
            f"- max length: {data.meta['max_length']} tokens; inputs: {', '.join(data.meta.get('inputs', []))}\n"
            f"- labels ({len(data.labels)}): {', '.join(f'`{label}`' for label in data.labels)}\n"
            f"- model.onnx: {data.size_mb:.1f} MB, opset {data.meta.get('onnx_opset')}\n"
            + (f"- quantisation: {quant}\n" if quant else "")
            + f"- serve: `serving.format: {data.format}`\n"
            + f"- load: `arxiv_classifier.onnx_export.load_runner(<uri>/{MODEL_DIR})`\n"
        )
        with self.artifact_store.open(path, "w") as fh:
            fh.write(text)
        return {path: VisualizationType.MARKDOWN}

    def extract_metadata(self, data: OnnxClassifier) -> dict[str, MetadataType]:
        return {"format": data.format, "num_labels": len(data.labels), "size_mb": round(data.size_mb, 2)}
