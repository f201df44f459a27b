"""Webhooks: pure event builders (events), the per-app notifier actor, and the HTTP sender."""
