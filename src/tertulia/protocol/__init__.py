"""The wire protocol as a pure layer: no I/O, no clock, no globals.

Everything here turns bytes into values or values into bytes, and raises
:class:`~tertulia.protocol.errors.ProtocolError` for input it refuses.
"""
