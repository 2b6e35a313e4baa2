"""``python -m shopscale`` runs the CLI."""

from shopscale.cli.main import main

main()
