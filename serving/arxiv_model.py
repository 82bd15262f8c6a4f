"""Seldon Core 1.18 (protocol v1) model that puts arXiv papers into their primary category.

Runs in the *serving* environment (seldon-core, onnxruntime, tokenizers; see requirements.lock) and
imports nothing from `arxiv_classifier` or ZenML. It loads a model directory whose `classifier.json`
says what it holds:

* `"format": "onnx-int8"` or `"onnx-fp32"`: an ONNX export (`arxiv_classifier.onnx_export`), run with
  ONNX Runtime and the `tokenizers` library by `onnx_runner.OnnxTextModel` (no torch);
* no format (or `"torch"`): `TextClassifier.save`'s Hugging Face `save_pretrained` files, run with torch
  and transformers, which only an environment that has them can serve (the serving image does not).

Started by `seldon-core-microservice arxiv_model.ArxivClassifier --service-type MODEL --parameters '[...]'`
(or `serving/launch_local.py` on the local stack). Parameters (all optional):

    model_dir      STRING  model directory (default: $MODEL_DIR, else /mnt/models, where Seldon puts it)
    model_name     STRING  echoed in every answer and in /health/status
    model_version  STRING  echoed in every answer and in /health/status
    max_batch      INT     most papers in one request (default 64); larger batches are a 400
    top_k          INT     how many (category, probability) pairs each prediction lists (default 3)
    inference_threads INT  intra-op threads of ONNX Runtime (or torch) per worker; 0 leaves the
                           runtime's default (`torch_threads`, its former name, is accepted)
    deployment_id  STRING  echoed by /health/status and written to the request log
    request_log    BOOL    log every served prediction (default true; see "Request log" below)
    request_log_uri STRING a local directory or gs://BUCKET/PREFIX (default: $REQUEST_LOG_URI, else
                           <tmp>/arxiv-request-logs/<model_name>)
    request_log_max_file_bytes INT  a file is finished at this size (default 16 MiB) ...
    request_log_rotate_seconds INT  ... or at this age (default 900), so a bucket gets it soon
    request_log_max_files      INT  finished files kept (default 2000; oldest deleted first) ...
    request_log_max_bytes      INT  ... and bytes they hold at most (default 512 MiB)
    request_log_queue          INT  answers waiting to be written (default 1000); more are dropped

Contract (POST /api/v1.0/predictions):

    {"jsonData": {"title": "...", "summary": "..."}}             one paper
    {"jsonData": [{"title": "...", "summary": "..."}, ...]}      a batch (other keys in a paper are ignored)
      -> {"jsonData": {"predictions": [P, ...], "model_name": ..., "model_version": ...},
          "meta": {"tags": {"model_name": ..., "model_version": ...}, "metrics": [...]}}

    {"data": {"names": ["title", "summary"], "ndarray": [["<title>", "<summary>"], ...]}}
      ("names" is optional and may swap the two columns)
      -> {"data": {"names": ["category", "confidence", "top_k"], "ndarray": [[category, confidence, top_k], ...]},
          "meta": {"tags": {...}, "metrics": [...]}}

    P = {"category": str, "confidence": float, "top_k": [{"category": str, "probability": float}, ...]}
    with `top_k` sorted by probability, highest first, and `confidence` the top class's probability.

Both fields must be present and be strings; one of them may be empty, not both. The model input is
built exactly like training's (`arxiv_classifier.data.join_text`), and texts longer than the model's
`max_length` tokens are truncated. A malformed request (including a body that is not JSON) is answered
with HTTP 400 and {"status": {"status": 1, "info": "<what was wrong and what to send>", "code": -1,
"reason": "BAD_REQUEST"}}; an unknown path keeps its 404 (see `http_blueprint`).

GET /health/status answers {"status": "ready", "model_name", "model_version", "labels"} once the model
is loaded, 503 before. Custom metrics go out in `meta.metrics`; Seldon turns them into Prometheus
metrics on the metrics port's /metrics: counters `arxiv_requests_total`, `arxiv_papers_total` and
`arxiv_predicted_class_total{category=...}`, and the histogram `arxiv_inference_seconds`
(tokenisation + forward pass of each request; Seldon's TIMER takes milliseconds and exposes seconds).
/health/status also says which `format` is served.
Every answer's `meta.puid` is the request's id (Seldon's puid when it sent one, else a new one).

Request log. Each paper answered becomes one JSON line (request, paper and prediction), written off
the request path by `request_logger.RequestLog` (a sibling module: the line format, the files, their
bounds and the counters `arxiv_request_log_*_total` are described there); /health/status's
"request_log" holds that worker's counts. `arxiv_classifier.request_log.read_request_log` reads them back.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onnx_runner import ONNX_FORMATS, OnnxTextModel
from request_logger import (
    DEFAULT_LOG_FILE_BYTES,
    DEFAULT_LOG_FILES,
    DEFAULT_LOG_QUEUE,
    DEFAULT_LOG_ROTATE_SECONDS,
    DEFAULT_LOG_TOTAL_BYTES,
    RequestLog,
    utc_now,
)

if TYPE_CHECKING:
    from seldon_core.flask_utils import SeldonMicroserviceException

logger = logging.getLogger(__name__)

#: Written by TextClassifier.save beside the Hugging Face files.
CLASSIFIER_META = "classifier.json"
DEFAULT_MODEL_DIR = "/mnt/models"

USAGE = (
    'send {"jsonData": {"title": "...", "summary": "..."}}, '
    '{"jsonData": [{"title": "...", "summary": "..."}, ...]} or '
    '{"data": {"names": ["title", "summary"], "ndarray": [["<title>", "<summary>"], ...]}}'
)
FIELDS = ("title", "summary")
#: Request limits (parameters `max_text_chars`, `max_request_bytes`; serving.* in the deploy config). An arXiv
#: abstract is at most 1,920 characters: 20,000 per paper leaves room for any real text, and 4 MB per body for
#: the largest batch; beyond them a request is refused with a message, never cut silently or left to exhaust memory.
DEFAULT_MAX_TEXT_CHARS = 20_000
DEFAULT_MAX_REQUEST_BYTES = 4_000_000
OUTPUT_NAMES = ["category", "confidence", "top_k"]

# This module must not import arxiv_classifier (the serving image holds only the serving modules), so the text
# normalisation and the torch forward pass below are copies of the library's: arxiv_classifier/data.py's
# normalise_text/join_text and arxiv_classifier/modeling.py's encode/batched_forward. The project's
# tests/unit/test_serving_parity.py imports this file and proves both give the same text, the same
# token ids and the same logits (and tests/unit/test_onnx_export.py the same of the ONNX runner).
_WS = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    return _WS.sub(" ", text).strip()


def join_text(parts: list[str]) -> str:
    return "\n".join(normalise_text(p) for p in parts if p and normalise_text(p))


def encode(tokenizer: Any, texts: list[str], max_length: int) -> Any:
    """The model input: truncated to `max_length` tokens, padded to the longest, as torch tensors."""
    return tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_tensors="pt")


def forward(model: Any, encoding: Any) -> Any:
    """float32 logits (a numpy array) of one encoded batch; a request is one batch (at most max_batch)."""
    import torch

    with torch.inference_mode():
        return model(**encoding).logits.float().numpy()


class TorchTextModel:
    """A `TextClassifier.save` directory run with torch and transformers (format 'torch')."""

    def __init__(self, model_dir: str, meta: dict[str, Any], threads: int = 0) -> None:
        try:
            import torch
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise ModelLoadError(
                f"{model_dir!r} holds a PyTorch model (classifier.json has no ONNX format) but this serving "
                f"environment has no torch/transformers ({exc}); deploy the version's ONNX export "
                "(serving.format: auto, onnx-int8 or onnx-fp32), or install torch and transformers here"
            ) from exc
        if threads:
            torch.set_num_threads(threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_dir)  # nosec B615  # a local model directory
            self.model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()  # nosec B615  # a local model directory
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not load the model in {model_dir!r}: {exc}") from exc
        self.max_length = int(meta["max_length"])
        config = self.model.config
        id2label = {int(k): v for k, v in (config.id2label or {}).items()}
        self.labels = [id2label.get(i) for i in range(config.num_labels)]
        self.threads = torch.get_num_threads()

    def encode(self, texts: list[str]) -> Any:
        return encode(self.tokenizer, texts, self.max_length)

    def run(self, encoding: Any) -> Any:
        return forward(self.model, encoding)


class OnnxRunner:
    """`onnx_runner.OnnxTextModel` with the torch runner's encode/run split (formats 'onnx-int8', 'onnx-fp32')."""

    def __init__(self, model_dir: str, meta: dict[str, Any], threads: int = 0) -> None:
        try:
            self.model = OnnxTextModel(model_dir, meta, threads=threads)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"could not load the ONNX model in {model_dir!r}: {exc}") from exc
        self.labels = list(meta["labels"])
        self.threads = threads

    def encode(self, texts: list[str]) -> Any:
        return self.model.encode(texts)

    def run(self, encoding: Any) -> Any:
        return self.model.run(encoding)


def softmax(logits: Any) -> Any:
    import numpy as np

    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


class ModelLoadError(RuntimeError):
    """The model directory is missing or is not one written by TextClassifier.save."""


def seldon_error(message: str, status_code: int, reason: str) -> SeldonMicroserviceException:
    """Seldon's error answer (imported here, not at module level, so the project's tests can import this file)."""
    from seldon_core.flask_utils import SeldonMicroserviceException

    return SeldonMicroserviceException(message, status_code=status_code, reason=reason)


def bad_request(message: str) -> SeldonMicroserviceException:
    return seldon_error(message, 400, "BAD_REQUEST")


def _describe(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def read_classifier_meta(model_dir: str | Path) -> dict[str, Any]:
    """classifier.json of `model_dir`, checked; ModelLoadError says what is wrong."""
    path = Path(model_dir)
    hint = (
        "model_dir must be a directory written by arxiv_classifier's ONNX export (model.onnx, tokenizer.json) or "
        f"TextClassifier.save (Hugging Face save_pretrained files), with its {CLASSIFIER_META}"
    )
    if not path.is_dir():
        raise ModelLoadError(f"model_dir {str(path)!r} does not exist or is not a directory; {hint}")
    meta_path = path / CLASSIFIER_META
    try:
        meta = json.loads(meta_path.read_text())
    except FileNotFoundError:
        raise ModelLoadError(f"{str(meta_path)!r} is missing; {hint}") from None
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{str(meta_path)!r} is not readable JSON ({exc}); {hint}") from exc
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise ModelLoadError(f"{str(meta_path)!r} has no non-empty 'labels' list of strings; {hint}")
    try:
        meta["max_length"] = int(meta["max_length"])
    except (KeyError, TypeError, ValueError):
        raise ModelLoadError(f"{str(meta_path)!r} has no integer 'max_length'; {hint}") from None
    meta["format"] = meta.get("format") or "torch"
    if meta["format"] not in (*ONNX_FORMATS, "torch"):
        raise ModelLoadError(
            f"{str(meta_path)!r} has format {meta['format']!r}; this server reads {', '.join(ONNX_FORMATS)} or torch"
        )
    return meta


PREDICT_PATHS = frozenset({"/api/v1.0/predictions", "/api/v0.1/predictions", "/predict"})


def http_blueprint(max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> Any:
    """Three fixes to Seldon's REST app, which otherwise answers

    * a body that is not JSON (or JSON sent without `Content-Type: application/json`) with a bare 400
      "Can't find JSON in data": here the 400 says what was wrong and what to send, and a JSON body sent
      as text/plain is accepted;
    * any HTTP error (unknown path 404, wrong method 405) with a 500 MICROSERVICE_INTERNAL_ERROR, because
      its catch-all `Exception` handler also catches werkzeug's HTTP exceptions: here they keep their code;
    * a body of any size: here one over `max_request_bytes` is refused with a 413 before it is read whole.
    """
    from flask import Blueprint, jsonify, request
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

    blueprint = Blueprint("arxiv_model_http", __name__)
    blueprint.record_once(lambda state: state.app.config.update(MAX_CONTENT_LENGTH=max_request_bytes))

    @blueprint.before_app_request
    def parse_prediction_body() -> None:
        if request.method != "POST" or request.path not in PREDICT_PATHS:
            return
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded") or request.args.get("json"):
            return  # Seldon's own form-field handling
        # Parsed once and cached: Seldon's later request.get_json() returns this value.
        try:
            if request.get_json(force=True, silent=True, cache=True) is not None:
                return
        except RecursionError:  # a body nested deeper than the JSON parser's recursion limit
            raise bad_request(f"the request body is nested too deeply to be a request; {USAGE}") from None
        body = request.get_data(cache=True)
        if not body.strip():
            problem = "the request body is empty"
        else:
            try:
                json.loads(body)
                problem = "the request body is JSON null"
            except ValueError as exc:
                problem = f"the request body is not valid JSON ({exc})"
        raise bad_request(f"{problem}; {USAGE}, as JSON with Content-Type: application/json")

    @blueprint.app_errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        reason = (error.name or "HTTP error").upper().replace(" ", "_")
        description = error.description
        if isinstance(error, RequestEntityTooLarge):
            description = (
                f"the request body is over this endpoint's limit of {max_request_bytes} bytes "
                "(serving.max_request_bytes): send fewer papers per request"
            )
        body = {"status": {"status": 1, "info": f"{error.code} {error.name}: {description}", "code": -1}}
        body["status"]["reason"] = reason
        response = jsonify(body)
        response.status_code = error.code or 500
        return response

    return blueprint


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("1", "true", "yes", "on")


class ArxivClassifier:
    """The Seldon user model; see the module docstring for the request/response contract."""

    def __init__(
        self,
        model_dir: str | None = None,
        model_name: str = "",
        model_version: str = "",
        max_batch: int = 64,
        top_k: int = 3,
        inference_threads: int = 0,
        deployment_id: str = "",
        torch_threads: int | None = None,
        quantize: bool = False,
        request_log: bool = True,
        request_log_uri: str = "",
        request_log_max_file_bytes: int = DEFAULT_LOG_FILE_BYTES,
        request_log_max_files: int = DEFAULT_LOG_FILES,
        request_log_max_bytes: int = DEFAULT_LOG_TOTAL_BYTES,
        request_log_rotate_seconds: int = DEFAULT_LOG_ROTATE_SECONDS,
        request_log_queue: int = DEFAULT_LOG_QUEUE,
        max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        self.model_dir = str(model_dir or os.environ.get("MODEL_DIR") or DEFAULT_MODEL_DIR)
        self.model_name = str(model_name)
        self.model_version = str(model_version)
        self.max_batch = int(max_batch)
        self.top_k = int(top_k)
        # torch_threads: the parameter's former name, still sent by deployments made before the ONNX format.
        self.inference_threads = int(inference_threads or torch_threads or 0)
        #: Echoed by /health/status, so a deployer knows the server answering is the one it started.
        self.deployment_id = str(deployment_id)
        if _as_bool(quantize):
            raise ValueError(
                "the 'quantize' parameter was removed (torch's deprecated quantize_dynamic): serve the model "
                "version's ONNX int8 export instead (serving.format: onnx-int8, or auto)"
            )
        self.max_text_chars = int(max_text_chars)
        self.max_request_bytes = int(max_request_bytes)
        if self.max_text_chars < 1 or self.max_request_bytes < 1:
            raise ValueError(
                f"max_text_chars and max_request_bytes must be >= 1, got {self.max_text_chars} and "
                f"{self.max_request_bytes}"
            )
        if self.max_batch < 1 or self.top_k < 1 or self.inference_threads < 0:
            raise ValueError(
                f"max_batch and top_k must be >= 1 and inference_threads >= 0, got max_batch={self.max_batch}, "
                f"top_k={self.top_k}, inference_threads={self.inference_threads}"
            )
        self.ready = False
        self.labels: list[str] = []
        self.max_length = 0
        self.base_model = ""
        self.format = ""
        self._runner: Any = None
        # A fast tokenizer called with truncation/padding settings mutates its Rust backend, which is not
        # safe across gunicorn threads ("Already borrowed"); the forward pass itself is.
        self._tokenizer_lock = threading.Lock()
        #: None when switched off. Built here so a bad setting stops the server at start; its writer
        #: thread starts in `load`, in each gunicorn worker.
        self.request_log: RequestLog | None = None
        if _as_bool(request_log):
            default_uri = Path(tempfile.gettempdir(), "arxiv-request-logs", self.model_name or "arxiv-classifier")
            self.request_log = RequestLog(
                str(request_log_uri or os.environ.get("REQUEST_LOG_URI") or default_uri),
                max_file_bytes=int(request_log_max_file_bytes),
                max_files=int(request_log_max_files),
                max_total_bytes=int(request_log_max_bytes),
                rotate_seconds=float(request_log_rotate_seconds),
                queue_size=int(request_log_queue),
            )

    # ------------------------------------------------------------------------------------------
    # Loading and health
    # ------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Load tokenizer and model (eval mode) and warm them up; called once per gunicorn worker."""
        meta = read_classifier_meta(self.model_dir)
        start = time.perf_counter()
        # Here, not at import: seldon forks its workers after building this object.
        runner_type = OnnxRunner if meta["format"] in ONNX_FORMATS else TorchTextModel
        runner = runner_type(self.model_dir, meta, threads=self.inference_threads)
        if runner.labels != meta["labels"]:
            raise ModelLoadError(
                f"{self.model_dir!r}: the model's labels {runner.labels} do not match the labels of "
                f"{CLASSIFIER_META} {meta['labels']}; the directory is inconsistent, save it again"
            )
        self._runner = runner
        self.format = meta["format"]
        self.labels = list(meta["labels"])
        self.max_length = meta["max_length"]
        self.base_model = str(meta.get("base_model", ""))
        self._probabilities(["warm up"])  # the first forward pass pays one-off costs; not a user's request
        if self.request_log is not None:
            self.request_log.start()
        self.ready = True
        logger.info(
            "loaded %s (%s, %d labels, max_length %d, threads %d) in %.1f s",
            self.model_dir,
            self.format,
            len(self.labels),
            self.max_length,
            runner.threads,
            time.perf_counter() - start,
        )
        logger.info("request log: %s", self.request_log.uri if self.request_log else "off")

    def _status(self) -> dict[str, Any]:
        if not self.ready:
            raise seldon_error("the model is not loaded yet", 503, "MICROSERVICE_NOT_READY")
        return {
            "status": "ready",
            "model_name": self.model_name,
            "model_version": self.model_version,
            "labels": self.labels,
            "deployment_id": self.deployment_id,
            "format": self.format,
            "request_log": self.request_log.stats() if self.request_log else {"enabled": False},
        }

    def health_status_raw(self) -> dict[str, Any]:
        """GET /health/status (Seldon returns this dict as is; 503 before load)."""
        return self._status()

    def health_status(self) -> dict[str, Any]:
        return self._status()

    @property
    def model_error_handler(self) -> Any:
        """Flask blueprint that Seldon registers on its REST app (it looks for this attribute); see `http_blueprint`."""
        return http_blueprint(self.max_request_bytes)

    def init_metadata(self) -> dict[str, Any]:
        """GET /metadata. Seldon calls this in the server's main process before `load`."""
        meta = read_classifier_meta(self.model_dir)
        paper = {"type": "object", "required": list(FIELDS), "properties": {f: {"type": "string"} for f in FIELDS}}
        return {
            "name": self.model_name or "arxiv-classifier",
            "versions": [self.model_version] if self.model_version else [],
            "platform": "onnxruntime" if meta["format"] in ONNX_FORMATS else "transformers",
            "inputs": [
                {"messagetype": "jsonData", "schema": {"oneOf": [paper, {"type": "array", "items": paper}]}},
                {"messagetype": "ndarray", "schema": {"names": list(FIELDS)}},
            ],
            "outputs": [
                {"messagetype": "jsonData", "schema": {"properties": {"predictions": {"type": "array"}}}},
                {"messagetype": "ndarray", "schema": {"names": OUTPUT_NAMES}},
            ],
            "custom": {
                "labels": json.dumps(meta["labels"]),
                "max_length": str(meta["max_length"]),
                "base_model": str(meta.get("base_model", "")),
                "format": meta["format"],
                "max_batch": str(self.max_batch),
                "top_k": str(self.top_k),
            },
        }

    # ------------------------------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------------------------------

    def predict_raw(self, request: Any) -> Any:
        """POST /api/v1.0/predictions: parse, predict, answer (gRPC protos are converted both ways)."""
        from seldon_core.proto import prediction_pb2

        if isinstance(request, prediction_pb2.SeldonMessage):
            from seldon_core.utils import json_to_seldon_message, seldon_message_to_json

            return json_to_seldon_message(self._predict_json(seldon_message_to_json(request)))
        return self._predict_json(request)

    def _predict_json(self, request: Any) -> dict[str, Any]:
        papers, form = self.parse_papers(request)
        texts = [join_text(list(paper)) for paper in papers]
        if not self.ready:
            raise seldon_error(
                "the model is not loaded yet; retry when /health/status answers 200", 503, "MICROSERVICE_NOT_READY"
            )
        start = time.perf_counter()
        probs = self._probabilities(texts)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        predictions = [self._prediction(row) for row in probs]

        tags = {"model_name": self.model_name, "model_version": self.model_version}
        counts = Counter(p["category"] for p in predictions)
        metrics: list[dict[str, Any]] = [
            {"type": "COUNTER", "key": "arxiv_requests_total", "value": 1},
            {"type": "COUNTER", "key": "arxiv_papers_total", "value": len(texts)},
            {"type": "TIMER", "key": "arxiv_inference_seconds", "value": elapsed_ms},
        ]
        metrics += [
            {"type": "COUNTER", "key": "arxiv_predicted_class_total", "value": n, "tags": {"category": c}}
            for c, n in sorted(counts.items())
        ]
        request_meta = request.get("meta")
        puid = request_meta.get("puid") if isinstance(request_meta, dict) else None
        # Seldon's executor sends a puid; a direct call gets one, so a client can find its request in the log.
        request_id = puid if isinstance(puid, str) and puid else uuid.uuid4().hex
        if self.request_log is not None:
            self.request_log.submit(self._log_records(papers, predictions, request_id))
            metrics += self.request_log.metrics()
        meta: dict[str, Any] = {"tags": tags, "metrics": metrics, "puid": request_id}
        if form == "ndarray":
            rows = [[p["category"], p["confidence"], p["top_k"]] for p in predictions]
            return {"data": {"names": OUTPUT_NAMES, "ndarray": rows}, "meta": meta}
        return {"jsonData": {"predictions": predictions, **tags}, "meta": meta}

    def _log_records(
        self, papers: list[tuple[str, str]], predictions: list[dict[str, Any]], request_id: str
    ) -> list[dict[str, Any]]:
        """The request log's lines of one answer: one per paper, inputs as sent."""
        now = utc_now()
        return [
            {
                "time": now,
                "request_id": request_id,
                "index": i,
                "model_name": self.model_name,
                "model_version": self.model_version,
                "deployment_id": self.deployment_id,
                "title": title,
                "summary": summary,
                "category": prediction["category"],
                "confidence": prediction["confidence"],
                "top_k": prediction["top_k"],
            }
            for i, ((title, summary), prediction) in enumerate(zip(papers, predictions, strict=True))
        ]

    def _prediction(self, row: Any) -> dict[str, Any]:
        k = min(self.top_k, len(self.labels))
        order = sorted(range(len(row)), key=lambda i: -float(row[i]))[:k]
        top = [{"category": self.labels[i], "probability": float(row[i])} for i in order]
        return {"category": top[0]["category"], "confidence": top[0]["probability"], "top_k": top}

    def _probabilities(self, texts: list[str]) -> Any:
        """Softmax probabilities, shape (len(texts), len(labels)), as a numpy array."""
        with self._tokenizer_lock:
            enc = self._runner.encode(texts)
        return softmax(self._runner.run(enc))

    # ------------------------------------------------------------------------------------------
    # Request parsing: every problem is a 400 that says what was wrong and what to send
    # ------------------------------------------------------------------------------------------

    def parse_request(self, request: Any) -> tuple[list[str], str]:
        """The model input texts of a request and its form ("json" or "ndarray")."""
        papers, form = self.parse_papers(request)
        return [join_text(list(paper)) for paper in papers], form

    def parse_papers(self, request: Any) -> tuple[list[tuple[str, str]], str]:
        """The (title, summary) of each paper of a request, checked, and its form ("json" or "ndarray")."""
        if not isinstance(request, dict):
            raise bad_request(f"the request body must be a JSON object, got {_describe(request)}; {USAGE}")
        if "jsonData" in request:
            payload = request["jsonData"]
            if isinstance(payload, dict):
                papers = [payload]
            elif isinstance(payload, list):
                papers = payload
            else:
                raise bad_request(
                    f"jsonData must be a paper object or an array of them, got {_describe(payload)}; {USAGE}"
                )
            self._check_batch_size(len(papers))
            where = "jsonData" if isinstance(payload, dict) else "jsonData[{}]"
            return [self._paper(p, where.format(i)) for i, p in enumerate(papers)], "json"
        if "data" in request:
            return self._ndarray_papers(request["data"]), "ndarray"
        if "strData" in request or "binData" in request:
            raise bad_request(f"strData and binData are not supported; {USAGE}")
        keys = ", ".join(sorted(map(str, request))) or "none"
        raise bad_request(f"the request has neither 'jsonData' nor 'data.ndarray' (keys: {keys}); {USAGE}")

    def _check_batch_size(self, n: int) -> None:
        if n == 0:
            raise bad_request(f"the batch is empty: send at least one paper; {USAGE}")
        if n > self.max_batch:
            raise bad_request(
                f"the batch has {n} papers, over this endpoint's limit of {self.max_batch}; "
                f"split it into requests of at most {self.max_batch} papers"
            )

    def _paper(self, paper: Any, where: str) -> tuple[str, str]:
        if not isinstance(paper, dict):
            raise bad_request(
                f'{where} must be an object {{"title": "...", "summary": "..."}}, got {_describe(paper)}; {USAGE}'
            )
        missing = [f for f in FIELDS if f not in paper]
        if missing:
            raise bad_request(
                f"{where} has no {' or '.join(repr(f) for f in missing)}: every paper needs both "
                f'"title" and "summary" strings (one of them may be "")'
            )
        return self._checked(paper["title"], paper["summary"], where)

    def _checked(self, title: Any, summary: Any, where: str) -> tuple[str, str]:
        for name, value in zip(FIELDS, (title, summary)):
            if not isinstance(value, str):
                raise bad_request(f'{where}: "{name}" must be a string, got {_describe(value)} (use "" for none)')
        if len(title) + len(summary) > self.max_text_chars:
            raise bad_request(
                f"{where}: title and summary have {len(title) + len(summary)} characters, over this endpoint's "
                f"max_text_chars of {self.max_text_chars} (an arXiv abstract has at most 1,920; the model reads "
                "its first tokens only): send the title and abstract, not the full paper"
            )
        if not join_text([title, summary]):
            raise bad_request(f"{where}: title and summary are both empty; send the paper's title and/or abstract")
        return title, summary

    def _ndarray_papers(self, data: Any) -> list[tuple[str, str]]:
        if not isinstance(data, dict) or "ndarray" not in data:
            got = f"keys {', '.join(sorted(map(str, data)))}" if isinstance(data, dict) else _describe(data)
            raise bad_request(
                f"'data' must hold an 'ndarray' of [title, summary] rows (tensor/tftensor are not supported), "
                f"got {got}; {USAGE}"
            )
        names = data.get("names")
        order = [0, 1]
        if names not in (None, []):
            if not isinstance(names, list) or sorted(map(str, names)) != sorted(FIELDS):
                raise bad_request(
                    f'data.names must be ["title", "summary"] (in the order of the row values), got {names}'
                )
            order = [names.index(f) for f in FIELDS]
        rows = data["ndarray"]
        if not isinstance(rows, list):
            raise bad_request(f"data.ndarray must be an array of [title, summary] rows, got {_describe(rows)}")
        self._check_batch_size(len(rows))
        papers = []
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != 2:
                got = f"an array of {len(row)} values" if isinstance(row, list) else _describe(row)
                if isinstance(row, str):
                    got += ' (one paper is sent as [["<title>", "<summary>"]])'
                raise bad_request(f"data.ndarray[{i}] must be a row of two strings [title, summary], got {got}")
            papers.append(self._checked(row[order[0]], row[order[1]], f"data.ndarray[{i}]"))
        return papers
