"""The REST API under ``/tasks/``: tasks, batches, the catalog and the OpenAPI document."""
