"""Monitoring's way in: the Alertmanager and generic metric webhooks.

``payloads`` turns Alertmanager's bodies into samples and ``metrics_body`` reads the generic
one (both pure), ``intake`` validates names, stores the samples with their criteria states and
hands over to the rollback service, ``routes`` authenticates and translates HTTP. What a
notification means as evidence is said in ``payloads``.
"""
