"""The nameko side of the services: entrypoints and dependency providers.

Domain modules never import from here; service classes do, and stay thin.
"""
