import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule_periodic_tasks(sender, **kwargs):
    from django.conf import settings

    sender.add_periodic_task(settings.CELERY_BEAT_POLL_SECONDS, sender.signature("jobs.poll_calls"), name="poll in-flight compute calls")
