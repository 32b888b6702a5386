"""``python -m mia.bench``: the command line of mia.bench.cli."""
from .cli import main

if __name__ == "__main__":  # not when a spawned process re-imports this module
    main()
