"""The Slack edge: the Bolt app and its listeners, the Web API client, and delivery of the
outbox's Slack work. Listeners ack, parse, call a service and respond; nothing more."""
