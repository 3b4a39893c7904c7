import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.meshing.parts import build_parts


@pytest.fixture(scope="session")
def parts(tmp_path_factory):
    """Reference parts (plate with a hole, L-bracket, surface-only STEP, cube STL), built once."""
    return build_parts(tmp_path_factory.mktemp("parts"))


@pytest.fixture
def plate_upload(parts):
    return SimpleUploadedFile("plate_with_hole.step", parts["plate_with_hole"].read_bytes())


def upload_of(parts, name, filename=None):
    path = parts[name]
    return SimpleUploadedFile(filename or path.name, path.read_bytes())
