# The demo project on the full stack (see compose.yaml): daphne for the web
# process, Celery workers, Redis and PostgreSQL.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=demo.settings

WORKDIR /app

# The package first, so that its layer is reused while only the demo changes.
COPY pyproject.toml README.md LICENSE ./
COPY task_api ./task_api
RUN pip install ".[redis,daphne,postgres,postgres-only]"

COPY demo ./demo
RUN useradd --create-home --uid 1000 app \
    && mkdir -p /app/demo/var \
    && chown app /app/demo/var
USER app

EXPOSE 8000
CMD ["python", "-m", "daphne", "-b", "0.0.0.0", "-p", "8000", "demo.asgi:application"]
