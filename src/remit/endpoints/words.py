"""Endpoint names as the words of their labels."""


def words(name: str) -> str:
    """Catalog name as words: ``"flare_free"`` -> ``"flare free"``."""
    return name.replace("_", " ")


def cap(text: str) -> str:
    """``text`` with its first letter upper-case."""
    return text[:1].upper() + text[1:]
