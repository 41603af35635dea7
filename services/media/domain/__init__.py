"""Plain-Python rules of the media service: no nameko, no HTTP, no RabbitMQ."""
