from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("callback/<int:attempt_id>/", views.callback, name="callback"),
    path("artifacts/<str:token>/", views.artifact, name="artifact"),
]
