"""Bolt listeners, one module per kind of request: small module-level functions that ack,
parse, call a service and respond; each ``register(app, services)`` binds them to an app."""
