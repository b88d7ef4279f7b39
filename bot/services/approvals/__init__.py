"""Approvals: one engine for every kind of approval request (go/no-go, rollback, ...)."""
