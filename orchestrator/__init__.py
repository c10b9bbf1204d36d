"""The order platform's orchestrator: order API, outbox relay, saga worker and admin CLI."""
