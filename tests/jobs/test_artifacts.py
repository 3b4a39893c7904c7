"""Signed artifact URLs: compute functions read inputs and write results without credentials."""
import urllib.error

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from jobs import transfer
from jobs.artifacts import download_url, upload_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_download_and_upload_through_signed_urls(portal_url):
    name = default_storage.save("tests/input.txt", ContentFile(b"hello input"))

    assert transfer.download(download_url(name)) == b"hello input"

    transfer.upload(upload_url("tests/output.json"), b'{"ok": true}', "application/json")
    with default_storage.open("tests/output.json") as stored:
        assert stored.read() == b'{"ok": true}'


def test_a_download_link_cannot_upload(portal_url):
    name = default_storage.save("tests/input2.txt", ContentFile(b"x"))
    with pytest.raises(urllib.error.HTTPError) as error:
        transfer.upload(download_url(name), b"overwrite")
    assert error.value.code == 403
    with default_storage.open(name) as stored:
        assert stored.read() == b"x"


def test_a_forged_link_is_refused(portal_url):
    with pytest.raises(urllib.error.HTTPError) as error:
        transfer.download(f"{portal_url}/jobs/artifacts/not-a-signed-token/")
    assert error.value.code == 403


def test_s3_urls_are_presigned(portal_url, s3_storage):
    from django.core.files.storage import default_storage as storage

    name = storage.save("tests/s3-input.txt", ContentFile(b"from s3"))
    url = download_url(name)
    assert "X-Amz-Signature" in url or "Signature=" in url
    assert transfer.download(url) == b"from s3"

    transfer.upload(upload_url("tests/s3-output.bin"), b"\x00\x01")
    with storage.open("tests/s3-output.bin") as stored:
        assert stored.read() == b"\x00\x01"
