"""`python -m fersyn …` runs the command line, like `fersyn …`."""

from fersyn.cli import main

if __name__ == "__main__":
    main()
