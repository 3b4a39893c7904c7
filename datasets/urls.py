from django.urls import path

from datasets import views

app_name = "datasets"
urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("search/", views.search, name="search"),
    path("<int:dataset_id>/", views.dataset_detail, name="detail"),
    path("<int:dataset_id>/status.json", views.dataset_status, name="status"),
    path("documents/<int:document_id>/", views.document_detail, name="document"),
]
