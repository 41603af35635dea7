"""The outside world of the feedback service (Facebook, Zalo, call center, downloads)."""
