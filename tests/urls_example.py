"""The example site's pages without the admin, for tests running on tests.settings."""

from django.urls import include, path

urlpatterns = [path("", include("example_project.documents.urls"))]
