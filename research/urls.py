from django.urls import path

from research import views

app_name = "research"
urlpatterns = [
    path("", views.index, name="index"),
    path("jobs/<uuid:job_id>/", views.detail, name="detail"),
    path("jobs/<uuid:job_id>/status.json", views.status, name="status"),
]
