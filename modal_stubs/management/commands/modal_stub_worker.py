"""Run the local stand-in for Modal's cloud: `python manage.py modal_stub_worker`."""
import signal

from django.core.management.base import BaseCommand

from modal_stubs.worker import StubWorker


class Command(BaseCommand):
    help = "Run queued modal_stubs calls in warm container processes until stopped (SIGINT/SIGTERM)."

    def add_arguments(self, parser):
        parser.add_argument("--app", default=None, help="The app whose calls to run (default MODAL_APP_NAME).")
        parser.add_argument("--once", action="store_true", help="Exit once no call is queued or running.")
        parser.add_argument("--containers", type=int, default=None, help="Container processes (default MODAL_STUB_CONTAINERS).")

    def handle(self, *args, app=None, once=False, containers=None, **options):
        worker = StubWorker(app_name=app, containers=containers, once=once)
        signal.signal(signal.SIGINT, worker.stop)
        signal.signal(signal.SIGTERM, worker.stop)
        worker.run()
