"""One module per public source; each has PIN, OVERRIDES and ``build(extra) -> list[Record]``."""
