"""The delivery agent: stored activities to partners' webhooks (docs/architecture.md)."""
