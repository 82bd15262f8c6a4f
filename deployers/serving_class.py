"""How every deployer calls the serving class (`serving/arxiv_model.py`'s `ArxivClassifier`).

Seldon passes a graph node's parameters to the class as keyword arguments; the local deployer and the
SeldonDeployment on GKE pass the same ones, built here, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from arxiv_classifier.request_log import request_log_uri

if TYPE_CHECKING:  # pragma: no cover
    from arxiv_classifier.config import ServingConfig

#: Seldon's import name of the serving class (module `serving/arxiv_model.py`).
SERVING_CLASS = "arxiv_model.ArxivClassifier"

MIB = 2**20


class RequestLogSettings(BaseModel):
    """The serving class's request log, as one deployment runs it (stored with the local service's config).

    Built from `ServingConfig` (`from_serving`), where the defaults and their reasons live.

    Attributes:
        enabled: log every served prediction.
        uri: a local directory or gs://BUCKET/PREFIX; '' leaves the serving class's default.
        max_file_bytes: a file is finished at this size...
        rotate_seconds: ...or at this age.
        max_files: finished files kept.
        max_bytes: bytes the finished files hold at most.
        queue: answers per worker waiting to be written.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool
    uri: str
    max_file_bytes: int
    rotate_seconds: int
    max_files: int
    max_bytes: int
    queue: int

    @classmethod
    def from_serving(cls, serving: ServingConfig) -> RequestLogSettings:
        """The settings of `serving` (its `request_log_uri` resolved first: `with_request_log_uri`)."""
        return cls(
            enabled=serving.request_log,
            uri=serving.request_log_uri or "",
            max_file_bytes=max(1, int(serving.request_log_max_file_mb * MIB)),
            rotate_seconds=serving.request_log_rotate_seconds,
            max_files=serving.request_log_max_files,
            max_bytes=max(1, int(serving.request_log_max_mb * MIB)),
            queue=serving.request_log_queue,
        )

    def parameters(self) -> list[tuple[str, str, str]]:
        """(name, value, Seldon type) of the serving class's request-log parameters."""
        if not self.enabled:
            return [("request_log", "false", "BOOL")]
        params = [("request_log", "true", "BOOL")]
        if self.uri:
            params.append(("request_log_uri", self.uri, "STRING"))
        params += [
            ("request_log_max_file_bytes", str(self.max_file_bytes), "INT"),
            ("request_log_rotate_seconds", str(self.rotate_seconds), "INT"),
            ("request_log_max_files", str(self.max_files), "INT"),
            ("request_log_max_bytes", str(self.max_bytes), "INT"),
            ("request_log_queue", str(self.queue), "INT"),
        ]
        return params


def with_request_log_uri(
    serving: ServingConfig, model_name: str, artifact_store_path: str | None = None
) -> ServingConfig:
    """`serving` with its request log's place decided: as configured, else under the artifact store.

    Args:
        serving: the serving settings; returned unchanged when the log is off or its URI is set.
        model_name: the served model's name (each model logs into a folder of its own).
        artifact_store_path: the artifact store's root (default: the active stack's), local or gs://.
    """
    if not serving.request_log or serving.request_log_uri:
        return serving
    if artifact_store_path is None:
        from zenml.client import Client

        artifact_store_path = Client().active_stack.artifact_store.path
    return serving.model_copy(update={"request_log_uri": request_log_uri(artifact_store_path, model_name)})


def seldon_parameters(
    *,
    model_dir: str,
    model_name: str,
    model_version: str,
    max_batch: int,
    top_k: int,
    inference_threads: int | None = None,
    request_log: RequestLogSettings | None = None,
    max_text_chars: int | None = None,
    max_request_bytes: int | None = None,
) -> list[dict[str, str]]:
    """The serving class's parameters in Seldon's `{"name", "value", "type"}` form.

    Args:
        model_dir: the self-describing model directory the server loads (PyTorch or ONNX, by its classifier.json).
        model_name: the Model Control Plane name echoed by every answer.
        model_version: the version echoed by every answer.
        max_batch: most papers in one request.
        top_k: categories returned per paper.
        inference_threads: the model runtime's intra-op threads per worker; None or 0 leaves its default
            (not sent).
        request_log: where and within which bounds the server logs what it serves; None sends nothing
            (the class's default: on, in its own temporary directory). The deployers always send it.
        max_text_chars / max_request_bytes: the request limits (a longer paper gets a 400, a larger body a
            413); None sends nothing (the class's defaults).
    """
    params = [
        ("model_dir", model_dir, "STRING"),
        ("model_name", model_name, "STRING"),
        ("model_version", model_version, "STRING"),
        ("max_batch", str(max_batch), "INT"),
        ("top_k", str(top_k), "INT"),
    ]
    if inference_threads:
        params.append(("inference_threads", str(inference_threads), "INT"))
    if request_log is not None:
        params += request_log.parameters()
    for name, value in (("max_text_chars", max_text_chars), ("max_request_bytes", max_request_bytes)):
        if value is not None:
            params.append((name, str(value), "INT"))
    return [{"name": n, "value": v, "type": t} for n, v, t in params]
