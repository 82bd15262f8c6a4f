"""What a run takes from the ZenML store before it starts: the model version it serves, the prepared
dataset version it retrains on; and the listing of those dataset versions (`run.py --list-datasets`).

Each look-up fails before any pipeline work, with a message that says how to get what is missing.
"""

from __future__ import annotations

from arxiv_classifier.constants import PREPARED_DATASET


class MissingInput(LookupError):
    """What a run needs is not in the store; the message says how to create or find it."""


def require_model_version(model_name: str, stage: str) -> None:
    """Check that the model has a version in `stage` (the one a deployment or batch run uses).

    Raises:
        MissingInput: there is none yet.
    """
    from zenml.client import Client

    try:
        Client().get_model_version(model_name, stage)
    except KeyError:
        raise MissingInput(
            f"model '{model_name}' has no {stage} version yet. Train one first: python run.py --pipeline train"
        ) from None


def require_dataset_version(version: str) -> None:
    """Check that the prepared dataset has this version (`run.py --dataset-version`).

    Raises:
        MissingInput: it does not.
    """
    from zenml.client import Client

    try:
        Client().get_artifact_version(PREPARED_DATASET, version)
    except KeyError:
        raise MissingInput(
            f"no version {version!r} of the prepared dataset; `python run.py --list-datasets` lists them"
        ) from None


def dataset_versions_table(limit: int = 100) -> str:
    """The prepared dataset's versions, oldest first: created, content hash, rows per split, labels.

    Args:
        limit: most versions listed.

    Returns:
        A table to print, or a line saying how to create the first version.
    """
    from zenml.client import Client

    versions = Client().list_artifact_versions(
        artifact=PREPARED_DATASET, sort_by="asc:created", size=limit, hydrate=True
    )
    if not versions.items:
        return "No prepared dataset yet: run `python run.py --pipeline train` first."
    lines = [f"{'version':>8}  {'created':19}  {'content hash':14}  {'train':>7} {'val':>7} {'test':>7}  labels"]
    for v in versions.items:
        meta = v.run_metadata
        lines.append(
            f"{v.version:>8}  {v.created:%Y-%m-%d %H:%M:%S}  {str(meta.get('content_hash', '?'))[:12]:14}  "
            f"{meta.get('rows_train', '?'):>7} {meta.get('rows_validation', '?'):>7} {meta.get('rows_test', '?'):>7}  "
            f"{meta.get('num_labels', '?')}"
        )
    return "\n".join(lines)
