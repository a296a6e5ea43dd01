"""flexfulfill: turn Flex (withflex.com) payments into fulfilled orders, exactly once."""

__version__ = "0.1.0"
