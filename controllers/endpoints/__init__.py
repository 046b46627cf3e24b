"""Endpoints controller: a Service's ready and not-ready pod addresses."""
