"""The operators' admin CLI: `orchestrator sagas|dlq|outbox|breakers|orders ...`."""
