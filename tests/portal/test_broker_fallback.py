"""With no Redis to reach, the portal falls back to kombu's filesystem broker and a
file-based cache, and a real worker really runs tasks through it."""
import json
import subprocess
import sys

import pytest

from tests.fixtures.s3 import free_port
from tests.fixtures.services import ROOT, running_service, service_env, start_celery_worker, wait_until

SHOW_SETTINGS = """
import json, django
django.setup()
from django.conf import settings
from portal.celery import app
result = app.send_task("celery.accumulate", args=(1, 2, 3))
print(json.dumps({"broker": settings.CELERY_BROKER_URL, "cache": settings.CACHES["default"]["BACKEND"],
                  "cache_location": settings.CACHES["default"]["LOCATION"], "task_id": result.id}))
"""


@pytest.fixture
def no_redis_env(tmp_path, test_database_url):
    closed_port = free_port()  # nothing listens there
    env = service_env(test_database_url, None, f"fallback-{tmp_path.name}",
                      PORTAL_VAR_DIR=tmp_path / "var",
                      CELERY_REDIS_URL=f"redis://127.0.0.1:{closed_port}/0",
                      CACHE_REDIS_URL=f"redis://127.0.0.1:{closed_port}/1",
                      DJANGO_SETTINGS_MODULE="portal.settings")
    env.pop("CELERY_BROKER_URL", None)
    return env


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_filesystem_broker_runs_a_task_when_redis_is_unreachable(no_redis_env, tmp_path):
    from django_celery_results.models import TaskResult

    worker = start_celery_worker(tmp_path / "worker.log", no_redis_env, concurrency=1, pool="solo")
    with running_service("fallback_worker", worker):
        sent = subprocess.run([sys.executable, "-c", SHOW_SETTINGS], cwd=ROOT, env=no_redis_env,
                              capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
        facts = json.loads(sent.stdout.strip().splitlines()[-1])

        assert facts["broker"] == "filesystem://"
        assert facts["cache"] == "django.core.cache.backends.filebased.FileBasedCache"
        assert facts["cache_location"] == str(tmp_path / "var" / "cache")
        result = wait_until(
            lambda: TaskResult.objects.filter(task_id=facts["task_id"], status="SUCCESS").first(),
            timeout=60, message=f"task never succeeded; worker log:\n{worker.log_tail()}",
        )
        assert json.loads(result.result) == [1, 2, 3]
        assert "transport:   filesystem" in worker.log_text() or "filesystem://" in worker.log_text()
