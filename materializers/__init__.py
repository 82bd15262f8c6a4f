"""ZenML materializers for the project's own types (imported for their registration side effect)."""

from materializers.sklearn_pipeline_materializer import SklearnPipelineMaterializer
from materializers.text_classifier_materializer import MODEL_DIR, TextClassifierMaterializer

__all__ = ["MODEL_DIR", "SklearnPipelineMaterializer", "TextClassifierMaterializer"]
