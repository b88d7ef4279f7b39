"""Rollbacks: recommendations from metric samples, decisions, execution and validation."""
