"""`python -m function`: serve the function, the same command line as the `function` script."""

from function.main import cli

__all__ = ["cli"]

if __name__ == "__main__":
    cli()
