"""`python -m lfmwatch` entry point."""

from lfmwatch.cli import main

if __name__ == "__main__":
    main()
