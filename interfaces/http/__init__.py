"""The HTTP API (API.md): one router per resource, one error table, one app factory."""
