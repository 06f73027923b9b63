"""``agent-harness``: launch agents (under construction)."""

import typer

app = typer.Typer(name="agent-harness", no_args_is_help=True, add_completion=False)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo("0.1.0")


def main() -> None:
    """Console-script entry point."""
    app()
