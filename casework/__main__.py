"""``python -m casework`` entry point."""

from casework.cli import main

if __name__ == "__main__":
    main()
