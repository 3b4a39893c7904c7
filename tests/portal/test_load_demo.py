"""The shipped demo documents: loaded once through the datasets service, and processed
end to end by real workers."""
import pytest
from django.core.management import CommandError, call_command

from datasets.models import Dataset, Document
from portal.management.commands.load_demo import DEMO_DATASET, demo_files
from tests.fixtures.services import wait_until


def test_the_demo_ships_one_small_file_of_each_format():
    files = demo_files()
    assert sorted(path.suffix for path in files) == [".docx", ".html", ".md", ".pdf"]
    assert all(0 < path.stat().st_size < 64 * 1024 for path in files)
    assert files[[p.suffix for p in files].index(".pdf")].read_bytes().startswith(b"%PDF-1.4")


@pytest.mark.django_db
def test_load_demo_uploads_every_file_once(django_user_model):
    admin = django_user_model.objects.create_superuser("admin", "admin@localhost", "pw")

    call_command("load_demo")
    call_command("load_demo")  # a second run changes nothing

    dataset = Dataset.objects.get(owner=admin, name=DEMO_DATASET)
    documents = Document.objects.filter(dataset=dataset)
    assert sorted(d.original_filename for d in documents) == sorted(p.name for p in demo_files())
    assert all(d.job is not None and d.job.owner == admin for d in documents)


@pytest.mark.django_db
def test_load_demo_needs_an_existing_user():
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("load_demo", user="nobody")


@pytest.mark.e2e
def test_demo_documents_are_processed_by_the_running_workers(celery_worker, celery_beat, stub_worker, user):
    call_command("load_demo", user=user.username)

    documents = Document.objects.filter(dataset__owner=user, dataset__name=DEMO_DATASET).select_related("job")
    assert documents.count() == 4

    def all_finished():
        statuses = {d.original_filename: d.job.status for d in documents.all()}
        return statuses if all(s in ("succeeded", "failed", "cancelled") for s in statuses.values()) else None

    statuses = wait_until(all_finished, timeout=240, interval=1, message="demo documents not processed in 4 minutes")
    assert set(statuses.values()) == {"succeeded"}, statuses
    assert all(d.chunks.exists() for d in documents.all())
