"""The engine: starts, cancels and runs tasks, and publishes their events."""
