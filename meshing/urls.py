from django.urls import path

from meshing import views

app_name = "meshing"
urlpatterns = [
    path("", views.index, name="index"),
    path("batches/<int:batch_id>/", views.batch_detail, name="batch"),
    path("<uuid:job_id>/", views.detail, name="detail"),
    path("<uuid:job_id>/mesh/", views.start_full_mesh, name="start_mesh"),
    path("<uuid:job_id>/download/<str:kind>/", views.download, name="download"),
]
