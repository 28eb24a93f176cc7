"""The store: task records, their fast SQL paths and their JSON."""
