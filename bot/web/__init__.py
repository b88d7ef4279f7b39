"""HTTP entry points: the Slack request URL, health, metrics, hooks, and the server."""
