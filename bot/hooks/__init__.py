"""Monitoring's way in: the Alertmanager and generic metric webhooks.

``payloads`` turns request bodies into samples (pure), ``intake`` validates and stores them
and hands over to the rollback service, ``routes`` authenticates and translates HTTP.
"""
