"""`python manage.py load_demo`: the shipped demo documents, uploaded as a dataset.

Uploads go through datasets.services.upload_documents, exactly like a user's
upload: validated, stored, one document job each, dispatched once committed
(so a running portal's workers process them within a minute). Running it twice
does nothing the second time.
"""
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

DEMO_DIR = Path(__file__).resolve().parents[2] / "demo"
DEMO_SUFFIXES = {".md", ".html", ".pdf", ".docx"}
DEMO_DATASET = "Demo documents"


def demo_files() -> list[Path]:
    return sorted(path for path in DEMO_DIR.iterdir() if path.suffix in DEMO_SUFFIXES)


class Command(BaseCommand):
    help = "Create the 'Demo documents' dataset for a user (default: admin) from portal/demo/."

    def add_arguments(self, parser):
        parser.add_argument("--user", default="admin", help="owner of the demo dataset")

    def handle(self, *args, user, **options):
        from datasets.models import Dataset, Document
        from datasets.services import create_dataset, upload_documents

        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"no user {user!r}; run `manage.py runportal` once, or createsuperuser")
        existing = Dataset.objects.filter(owner=owner, name=DEMO_DATASET).first()
        if existing and Document.objects.filter(dataset=existing).exists():
            self.stdout.write(f"The demo dataset is already loaded for {user} (dataset {existing.pk}).")
            return
        dataset = existing or create_dataset(owner, DEMO_DATASET, "Small documents shipped with the portal.")
        files = [(path.name, path.read_bytes()) for path in demo_files()]
        result = upload_documents(owner, dataset, files)
        for name, reason in result.rejected:
            self.stderr.write(f"rejected {name}: {reason}")
        self.stdout.write(
            f"Demo dataset {dataset.pk} for {user}: {len(result.accepted)} documents uploaded, "
            f"{len(result.rejected)} rejected; they are processed as soon as the workers pick them up."
        )
        if result.rejected:
            raise CommandError("some demo documents were rejected")
