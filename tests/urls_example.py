"""The example site's pages and its admin, for tests running on tests.settings."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("example_project.documents.urls")),
]
