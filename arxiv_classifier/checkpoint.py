"""Fine-tuning checkpoints: the loop's whole state after each finished epoch, written atomically, read back to resume.

A checkpoint holds what the next epoch depends on: the model, optimizer and scheduler states, the shuffling
generator and the global torch RNG (dropout), the epoch reached, the history and the best state so far. It
is keyed by the loop's inputs (settings that change the result, the texts and labels, the model's starting
weights' shape): a checkpoint of other inputs is never resumed from. Paths are fsspec URLs, so a local
directory and a bucket (`gs://...`, where the artifact store of a remote orchestrator is) both work.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "last.pt"
#: Settings that do not change the trained model: a resume may differ in them.
NOT_IN_KEY = {"show_progress", "checkpoint_dir", "num_threads", "eval_batch_size"}


def inputs_key(
    settings: dict[str, Any],
    train_texts: Sequence[str],
    train_labels: Sequence[int],
    val_texts: Sequence[str],
    val_labels: Sequence[int],
    model_fingerprint: str,
) -> str:
    """A digest of everything the trained model depends on."""
    digest = hashlib.sha256()
    kept = {k: v for k, v in sorted(settings.items()) if k not in NOT_IN_KEY}
    digest.update(json.dumps(kept, sort_keys=True, default=str).encode())
    digest.update(model_fingerprint.encode())
    for part in (train_texts, train_labels, val_texts, val_labels):
        digest.update(b"\x00")
        for item in part:
            digest.update(str(item).encode())
            digest.update(b"\x1f")
    return digest.hexdigest()[:24]


def _path(directory: str) -> str:
    return f"{directory.rstrip('/')}/{CHECKPOINT_FILE}"


def save(directory: str, state: dict[str, Any]) -> str:
    """Write `state` (torch-serialisable) to `directory/last.pt`: to a partial file first, then renamed,
    so a run killed while writing leaves the previous checkpoint, never half of one."""
    import fsspec
    import torch

    fs, root = fsspec.core.url_to_fs(directory)
    fs.makedirs(root, exist_ok=True)
    target = _path(root)
    partial = target + ".partial"
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with fs.open(partial, "wb") as handle:
        handle.write(buffer.getvalue())
    fs.mv(partial, target)
    return target


def load(directory: str, key: str) -> dict[str, Any] | None:
    """The checkpoint in `directory` when there is one for these inputs (`key`), else None (said in the log)."""
    import fsspec
    import torch

    fs, root = fsspec.core.url_to_fs(directory)
    target = _path(root)
    if not fs.exists(target):
        return None
    with fs.open(target, "rb") as handle:
        state: dict[str, Any] = torch.load(io.BytesIO(handle.read()), map_location="cpu", weights_only=False)  # nosec B614  # our own file
    if state.get("key") != key:
        logger.warning("ignoring the checkpoint %s: it was written for other inputs", target)
        return None
    return state


def remove(directory: str) -> None:
    """Delete the checkpoint (the training it belongs to has finished)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(directory)
    for name in (_path(root), _path(root) + ".partial"):
        if fs.exists(name):
            fs.rm(name)
