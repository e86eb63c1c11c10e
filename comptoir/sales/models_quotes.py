"""Quotes, their lines and versions."""
