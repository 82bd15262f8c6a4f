"""A pipeline whose artifact store is a `gs://` bucket, served by gcp-storage-emulator on loopback.

ZenML's GCS artifact store talks to the emulator through gcsfs (STORAGE_EMULATOR_HOST). Credentials:
without any, gcsfs probes the GCE metadata server for ~15 s; an application-default credentials
file holding an unexpired access token makes the lookup instant and needs no network (the
emulator ignores the token).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Annotated, Any

import pandas as pd
import pytest
from zenml import pipeline, step

from stacks.team_servers import write_emulator_credentials
from tests.stacks.gcp_fakes import active_stack_restored

pytestmark = [pytest.mark.slow, pytest.mark.pipeline]

BUCKET = "arxiv-emulated-bucket"
STACK = "gcs_emulated"


@step(enable_cache=False)
def make_papers() -> Annotated[pd.DataFrame, "emulated_papers"]:
    return pd.DataFrame(
        {
            "id": ["2401.00001", "2401.00002", "2401.00003"],
            "title": ["Attention", "Diffusion", "Graphs"],
            "category": ["cs.CL", "cs.CV", "cs.LG"],
        }
    )


@step(enable_cache=False)
def count_categories(papers: pd.DataFrame) -> Annotated[dict[str, Any], "emulated_counts"]:
    return {"rows": len(papers), "categories": sorted(papers["category"].unique().tolist())}


@pipeline(enable_cache=False)
def gcs_roundtrip_pipeline() -> None:
    count_categories(make_papers())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def emulated_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """gcp-storage-emulator (in memory, on a free loopback port) with one bucket; yields its URL."""
    from gcp_storage_emulator.server import create_server

    port = _free_port()
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    adc = tmp_path_factory.mktemp("adc") / "application_default_credentials.json"
    write_emulator_credentials(adc)
    url = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", url)
        mp.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
        mp.setenv("GOOGLE_CLOUD_PROJECT", "arxiv-test-project")
        mp.setenv("NO_GCE_CHECK", "True")
        mp.setenv("ZENML_DISABLE_PIPELINE_LOGS_STORAGE", "true")
        try:
            yield url
        finally:
            server.stop()


@pytest.fixture(scope="module")
def gcs_stack(emulated_gcs: str) -> Iterator[str]:
    """A stack of the local orchestrator and a GCS artifact store in the emulated bucket, active."""
    from zenml.client import Client
    from zenml.enums import StackComponentType

    client = Client()
    try:
        client.get_stack_component(StackComponentType.ARTIFACT_STORE, STACK, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack_component(
            name=STACK,
            flavor="gcp",
            component_type=StackComponentType.ARTIFACT_STORE,
            configuration={"path": f"gs://{BUCKET}/zenml"},
        )
    try:
        client.get_stack(STACK, allow_name_prefix_match=False)
    except KeyError:
        client.create_stack(
            name=STACK,
            components={StackComponentType.ORCHESTRATOR: "default", StackComponentType.ARTIFACT_STORE: STACK},
        )
    with active_stack_restored():
        client.activate_stack(STACK)
        yield STACK


def test_pipeline_artifacts_live_in_the_bucket_and_load_back(gcs_stack: str) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from zenml.client import Client
    from zenml.enums import ExecutionStatus

    gcs_roundtrip_pipeline()
    run = Client().get_pipeline("gcs_roundtrip_pipeline").last_run
    assert run.status == ExecutionStatus.COMPLETED
    assert run.stack is not None and run.stack.name == gcs_stack

    papers = run.steps["make_papers"].outputs["emulated_papers"][0]
    counts = run.steps["count_categories"].outputs["emulated_counts"][0]
    for artifact in (papers, counts):
        assert artifact.uri.startswith(f"gs://{BUCKET}/zenml/"), artifact.uri
    frame = papers.load()
    assert isinstance(frame, pd.DataFrame) and frame["category"].tolist() == ["cs.CL", "cs.CV", "cs.LG"]
    assert counts.load() == {"rows": 3, "categories": ["cs.CL", "cs.CV", "cs.LG"]}

    # The bytes are really in the (emulated) bucket, seen with a plain GCS client too.
    client = storage.Client(project="arxiv-test-project", credentials=AnonymousCredentials())  # type: ignore[no-untyped-call]
    names = [blob.name for blob in client.list_blobs(BUCKET, prefix="zenml/")]
    prefix = papers.uri.removeprefix(f"gs://{BUCKET}/")
    assert any(name.startswith(prefix) for name in names), names[:20]
