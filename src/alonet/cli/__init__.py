"""The ``alonet`` command line: one verb per pipeline stage."""
