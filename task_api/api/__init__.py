"""What the REST API and the WebSocket share: the start rules, the errors, the body checks."""
