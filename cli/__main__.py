"""`python -m cli` is the `dreamseed` command (used to start child processes reliably)."""

from cli.main import main

main()
