"""ZenML materializers for the project's own types (imported for their registration side effect)."""

from materializers.onnx_classifier_materializer import OnnxClassifierMaterializer
from materializers.sklearn_pipeline_materializer import SklearnPipelineMaterializer
from materializers.text_classifier_materializer import MODEL_DIR, TextClassifierMaterializer

__all__ = ["MODEL_DIR", "OnnxClassifierMaterializer", "SklearnPipelineMaterializer", "TextClassifierMaterializer"]
