"""The publishing service."""
