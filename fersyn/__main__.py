"""`python -m fersyn …` runs the command line, like `fersyn …`."""

from fersyn.cli import main

main()
