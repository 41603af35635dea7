"""The feedback service + gateway stack of tests/feedback (real RabbitMQ, database, HTTP), for the
ticket tests here: `from tests.security._feedback import *` brings its fixtures into a module."""

from tests.feedback.conftest import db_backend, fb_extra, fb_settings, platform, stack

__all__ = ["db_backend", "fb_extra", "fb_settings", "platform", "stack"]
