"""The readiness check: the database, the broker, the channel layer and the workers.

``manage.py task_api_health`` runs it once (exit code 0 or 1); the view of
``include("task_api.health.urls")`` answers ``GET /tasks/health/`` with 200 or 503.
"""
