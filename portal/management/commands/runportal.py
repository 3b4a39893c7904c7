"""`python manage.py runportal`: the whole portal on this machine, as one process tree.

Prepares the database (settings start the embedded PostgreSQL when DATABASE_URL
is unset, and export DATABASE_URL so every child shares it), creates the `admin`
superuser once, then supervises: the web server (waitress), a Celery worker,
Celery beat and the Modal stub worker. Ctrl-C stops them all, then the embedded
database stops with this process. See portal/supervisor.py for the policy when a
child dies.
"""
import os
import secrets
import socket
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from portal.supervisor import ChildExited, ChildSpec, Supervisor

ADMIN_USERNAME = "admin"
WEB_READY_TIMEOUT = 60
DEMO_TIMEOUT = 300


def admin_password_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-password.txt"


def ensure_admin() -> str | None:
    """Create the `admin` superuser unless it exists; return the new password, else None."""
    User = get_user_model()
    if User.objects.filter(username=ADMIN_USERNAME).exists():
        return None
    password = secrets.token_urlsafe(12)
    User.objects.create_superuser(ADMIN_USERNAME, email="admin@localhost", password=password)
    path = admin_password_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created 0600 from the start, so the password is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    os.chmod(path, 0o600)
    return password


def child_specs(port: int) -> list[ChildSpec]:
    python = sys.executable
    var_dir = Path(settings.VAR_DIR)
    threads = os.environ.get("RUNPORTAL_WEB_THREADS", "8")
    return [
        ChildSpec("web", [python, "-m", "waitress", f"--listen=0.0.0.0:{port}", f"--threads={threads}",
                          "portal.wsgi:application"]),
        ChildSpec("worker", [python, "-m", "celery", "-A", "portal", "worker", "-l", "INFO",
                             "-n", f"portal-{port}@%h"]),
        ChildSpec("beat", [python, "-m", "celery", "-A", "portal", "beat", "-l", "INFO",
                           "-s", str(var_dir / "celerybeat-schedule")]),
        ChildSpec("stub", [python, "manage.py", "modal_stub_worker"]),
    ]


def wait_for_port(port: int, supervisor: Supervisor, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.check_children()
        if supervisor.stop_requested.is_set():
            return
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise CommandError(f"the web server did not listen on port {port} within {timeout:.0f} s")


def banner(url: str, new_password: str | None) -> str:
    password_file = admin_password_file()
    lines = ["", f"Portal running at {url}/", f"  Log in at {url}/accounts/login/ as '{ADMIN_USERNAME}'"]
    if new_password:
        lines.append(f"  password: {new_password}   (shown once; also saved in {password_file}, mode 600)")
    else:
        lines.append(f"  password: in {password_file}")
    lines += [f"  Admin: {url}/admin/   API docs: {url}/api/docs", "  Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Run the whole portal (web, Celery worker and beat, Modal stub worker) until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--demo", action="store_true", help="load the shipped demo dataset for admin")

    def handle(self, *args, port, demo, **options):
        self.stdout.write(f"Database: {settings.DATABASES['default']['NAME']} "
                          f"on {settings.DATABASES['default']['HOST'] or 'localhost'}")
        self.stdout.write(f"Broker: {settings.CELERY_BROKER_URL}")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        new_password = ensure_admin()
        connections.close_all()  # from here on only the children use the database

        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATABASE_URL": os.environ["DATABASE_URL"]}
        env.setdefault("PORTAL_BASE_URL", url)
        supervisor = Supervisor(env, cwd=str(settings.BASE_DIR),
                                stop_timeout=float(os.environ.get("RUNPORTAL_STOP_TIMEOUT", 20)))
        supervisor.install_signal_handlers()
        exit_code = 0
        try:
            for spec in child_specs(port):
                supervisor.start(spec)
            wait_for_port(port, supervisor, WEB_READY_TIMEOUT)
            if demo and not supervisor.stop_requested.is_set():
                status = supervisor.run_once(ChildSpec("demo", [sys.executable, "manage.py", "load_demo"]), DEMO_TIMEOUT)
                if status != 0:
                    supervisor.say("portal", f"loading the demo data failed (status {status}); the portal keeps running")
            if not supervisor.stop_requested.is_set():
                supervisor.announce(banner(url, new_password))
            supervisor.watch()
            supervisor.say("portal", "stop requested; stopping children")
        except ChildExited as exc:
            supervisor.say("portal", f"{exc}; stopping the portal")
            exit_code = 1
        except CommandError as exc:
            supervisor.say("portal", f"{exc}; stopping the portal")
            exit_code = 1
        finally:
            supervisor.stop()
        supervisor.say("portal", "all processes stopped")
        if exit_code:
            sys.exit(exit_code)
