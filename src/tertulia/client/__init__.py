"""Clients: the line mode for scripts and bots (``plain``); the full-screen client comes later."""
