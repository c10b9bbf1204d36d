"""Notification service: templated email, SMS and signed webhooks with every attempt recorded."""
