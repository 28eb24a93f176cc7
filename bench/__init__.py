"""Benchmarks of Django Task API against baselines measured in the same run.

``python -m bench`` starts a private redis-server, a Celery worker and daphne
on a fresh SQLite database, runs every scenario a few times and prints the
medians; see ``BENCHMARKS.md``.
"""
