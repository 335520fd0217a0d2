"""Clients: the full-screen terminal client (``tui``), the line mode for scripts (``plain``),
the JSON-mode connection they and bots can share (``connection``), and server and
client together (``together``)."""
