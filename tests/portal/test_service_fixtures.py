"""The real-service fixtures other tests build on: Celery worker, S3 server, test database URL."""
import os
import urllib.request

import pytest
from django.core.files.base import ContentFile

from portal.celery import app
from tests.fixtures.services import database_url


def test_database_url_round_trips_through_settings_parsing():
    from portal.embedded_db import database_settings

    socket_dsn = {"NAME": "test_portal_1", "USER": "postgres", "PASSWORD": "", "HOST": "/srv/pg data", "PORT": ""}
    tcp_dsn = {"NAME": "db", "USER": "u", "PASSWORD": "p@ss", "HOST": "10.0.0.5", "PORT": "5433"}

    parsed_socket = database_settings(database_url(socket_dsn))
    parsed_tcp = database_settings(database_url(tcp_dsn))

    assert (parsed_socket["NAME"], parsed_socket["USER"], parsed_socket["HOST"]) == ("test_portal_1", "postgres", "/srv/pg data")
    assert (parsed_tcp["NAME"], parsed_tcp["USER"], parsed_tcp["PASSWORD"], parsed_tcp["HOST"], parsed_tcp["PORT"]) == (
        "db", "u", "p@ss", "10.0.0.5", "5433")


@pytest.mark.e2e
def test_celery_worker_runs_tasks_from_this_runs_queue(celery_worker, celery_queue):
    assert celery_queue.endswith(f"-test-{os.getpid()}")
    assert app.conf.task_default_queue == celery_queue

    result = app.send_task("celery.accumulate", args=(7, 8))

    assert result.get(timeout=60) == [7, 8]
    assert celery_worker.alive()
    assert "celery.accumulate" in celery_worker.log_text()


@pytest.mark.django_db
def test_s3_storage_fixture_stores_in_the_moto_bucket(s3_storage, s3_server):
    from jobs.artifacts import download_url, upload_url

    name = s3_storage.save("checks/hello.txt", ContentFile(b"hello from the portal"))
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=name)["Body"].read()
    assert body == b"hello from the portal"

    # Compute functions only ever get presigned URLs: both directions work against the server.
    with urllib.request.urlopen(download_url(name), timeout=10) as response:
        assert response.read() == b"hello from the portal"
    put = urllib.request.Request(upload_url("checks/out.txt"), data=b"artifact", method="PUT",
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(put, timeout=10) as response:
        assert response.status == 200
    assert s3_storage.open("checks/out.txt").read() == b"artifact"
