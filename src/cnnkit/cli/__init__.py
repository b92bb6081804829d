"""The ``cnnkit`` command line: one module per command group, each thin."""

__all__: list[str] = []
