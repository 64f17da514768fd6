"""A runnable Django site using vectra_django: ``python manage.py demo`` at the repo root."""
