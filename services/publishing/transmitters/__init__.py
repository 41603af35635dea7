"""Transmitters: send a stored rendition to one channel. One small interface, one per channel."""
