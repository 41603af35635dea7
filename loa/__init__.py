"""The loa command and the process that wires the services together (the composition root)."""
