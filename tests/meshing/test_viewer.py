"""The three.js viewer in a real headless browser, served from the project's own static files."""
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from meshing import compute, services
from tests.meshing.conftest import upload_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def plate_preview(parts, tmp_path_factory):
    return compute.preview_from_file(parts["plate_with_hole"], None, tmp_path_factory.mktemp("preview"))


def test_result_page_draws_the_preview_on_a_canvas(logged_in_page, user, parts, plate_preview):
    mesh_job = services.submit_mesh(user, upload=upload_of(parts, "plate_with_hole"))
    name = services.artifact_names(mesh_job)["preview"]
    default_storage.save(name, ContentFile(Path(plate_preview["preview_path"]).read_bytes()))
    with transaction.atomic():  # as in the engine, which ingests inside its transaction
        services.ingest_preview(mesh_job.preview_job, {"triangle_count": plate_preview["triangle_count"], "uploaded": True})
    page = logged_in_page
    static_requests = []
    page.on("request", lambda request: static_requests.append(request.url))
    page.goto(f"/meshing/{mesh_job.job_id}/")
    viewer = page.locator(".mesh-viewer")
    page.wait_for_function(
        "() => ['loaded', 'error', 'no-webgl'].includes(document.querySelector('.mesh-viewer').dataset.state)"
    )
    assert viewer.get_attribute("data-state") == "loaded", viewer.inner_text()
    assert viewer.get_attribute("data-triangles") == str(plate_preview["triangle_count"])
    box = page.locator(".mesh-viewer canvas").bounding_box()
    assert box["width"] > 300 and box["height"] > 300
    assert any(url.endswith("/static/meshing/vendor/three.module.min.js") for url in static_requests)
    assert not [url for url in static_requests if "cdn" in url or not url.startswith(page.url.split("/meshing")[0])]
