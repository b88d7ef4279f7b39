"""The outbox: Slack work and executions decided in a transaction and done after it commits."""
