"""tests/security: each finding of the security review (issue 13) as a test against the real
servers. Fixtures live in the test modules of each area (or in tests/security/_<area>.py)."""
