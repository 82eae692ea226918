"""tinydl's version, in one place: the package, saved model files and pyproject.toml read it here."""

__version__ = "0.1.0"
