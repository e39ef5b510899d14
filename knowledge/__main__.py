"""``python -m knowledge`` entry point."""

from knowledge.cli import main

if __name__ == "__main__":
    main()
