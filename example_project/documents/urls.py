from django.urls import path

from . import views

app_name = "documents"
urlpatterns = [
    path("", views.search, name="search"),
    path("documents/<int:pk>/", views.detail, name="detail"),
]
