"""Wiring: configuration, the server object, signals and shutdown.

Only this package knows every part.
"""
