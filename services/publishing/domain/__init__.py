"""Publishing domain: plain Python (no nameko, no HTTP, no RabbitMQ)."""
