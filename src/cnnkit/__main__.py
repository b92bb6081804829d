"""``python -m cnnkit``: the same as the ``cnnkit`` command."""

from cnnkit.cli.app import main

if __name__ == "__main__":
    main()
