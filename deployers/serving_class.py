"""How every deployer calls the serving class (`serving/arxiv_model.py`'s `ArxivClassifier`).

Seldon passes a graph node's parameters to the class as keyword arguments; the local deployer and the
SeldonDeployment on GKE pass the same ones, built here, so the two cannot drift apart.
"""

from __future__ import annotations

#: Seldon's import name of the serving class (module `serving/arxiv_model.py`).
SERVING_CLASS = "arxiv_model.ArxivClassifier"


def seldon_parameters(
    *,
    model_dir: str,
    model_name: str,
    model_version: str,
    max_batch: int,
    top_k: int,
    torch_threads: int | None = None,
    quantize: bool = False,
) -> list[dict[str, str]]:
    """The serving class's parameters in Seldon's `{"name", "value", "type"}` form.

    Args:
        model_dir: the self-describing model directory the server loads.
        model_name: the Model Control Plane name echoed by every answer.
        model_version: the version echoed by every answer.
        max_batch: most papers in one request.
        top_k: categories returned per paper.
        torch_threads: torch intra-op threads per worker; None or 0 leaves torch's default (not sent).
        quantize: serve an int8 copy (sent only when on, so older servers keep working).
    """
    params = [
        ("model_dir", model_dir, "STRING"),
        ("model_name", model_name, "STRING"),
        ("model_version", model_version, "STRING"),
        ("max_batch", str(max_batch), "INT"),
        ("top_k", str(top_k), "INT"),
    ]
    if torch_threads:
        params.append(("torch_threads", str(torch_threads), "INT"))
    if quantize:
        params.append(("quantize", "true", "BOOL"))
    return [{"name": n, "value": v, "type": t} for n, v, t in params]
