"""Settings of the meshing app: Django settings first, then the environment, then a default."""
import os

from django.conf import settings


def _setting(name: str, default, cast=int):
    return cast(getattr(settings, name, os.environ.get(name, default)))


def max_elements() -> int:
    return _setting("MESH_MAX_ELEMENTS", 2_000_000)


def default_time_budget() -> int:
    return _setting("MESH_DEFAULT_TIME_BUDGET", 120)


def max_upload_bytes() -> int:
    return _setting("MESH_MAX_UPLOAD_BYTES", 100 * 1024 * 1024)


def max_batch_files() -> int:
    return _setting("MESH_MAX_BATCH_FILES", 100)


def preview_max_triangles() -> int:
    return _setting("MESH_PREVIEW_MAX_TRIANGLES", 50_000)
