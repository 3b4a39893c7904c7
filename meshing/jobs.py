"""The "mesh" and "mesh_preview" job kinds: what the job engine needs to know.

Two kinds, so that each has its own RolloutPolicy: previews can move to Modal
before (or after) the heavy sweeps, as seed 002's open question on preview I/O asks.
"""
from django.db.models import Prefetch

from jobs.registry import JobKind, register_kind
from meshing import services
from meshing.models import MeshJob


def _mesh_job_with_file(relation: str) -> Prefetch:
    """Dispatch loads each job's MeshJob and its file for a whole batch in one query."""
    return Prefetch(relation, queryset=MeshJob.objects.select_related("cad_file"))


MESH_KIND = JobKind(
    name=services.MESH_KIND,
    label="Mesh (strategy sweep)",
    function="generate_mesh",
    build_payload=services.build_mesh_payload,
    ingest=services.ingest_mesh,
    on_failure=services.record_mesh_failure,
    on_retry=services.prepare_mesh_retry,
    prefetch=(_mesh_job_with_file("mesh"),),
)

PREVIEW_KIND = JobKind(
    name=services.PREVIEW_KIND,
    label="Mesh preview",
    function="generate_preview_mesh",
    build_payload=services.build_preview_payload,
    ingest=services.ingest_preview,
    on_failure=services.record_preview_failure,
    prefetch=(_mesh_job_with_file("mesh_preview"),),
)


def register() -> None:
    register_kind(MESH_KIND)
    register_kind(PREVIEW_KIND)
