"""The grammar's one error."""


class ParseError(ValueError):
    """A command that does not follow the grammar (answered with BAD)."""
