"""The feedback domain: plain Python over SQLAlchemy sessions (no nameko, HTTP or RabbitMQ)."""
