from django.contrib import admin
from django.urls import include, path

from portal import views
from portal.api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("account/api-keys/", views.api_keys, name="api_keys"),
    path("api/", api.urls),
    path("jobs/", include("jobs.urls")),
    path("datasets/", include("datasets.urls")),
    path("credits/", include("credits.urls")),
    path("meshing/", include("meshing.urls")),
    path("research/", include("research.urls")),
]
