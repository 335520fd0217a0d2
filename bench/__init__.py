"""Tertulia's benchmark: Tertulia and a peer (ngircd) on the same work, in the same run.

Run it with ``make bench`` (or ``python -m bench --help``).  See docs/performance.md.
"""
