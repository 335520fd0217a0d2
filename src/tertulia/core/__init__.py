"""The chat core: sessions, users, rooms and routing, with no sockets.

The core takes lines from a front end and decides what to send to whom.  It
talks to the outside world only through the small ports of
:mod:`tertulia.core.ports`.
"""
