"""Bolt listeners, one module per kind of request: ack, parse, call a service, respond."""
