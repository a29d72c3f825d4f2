"""The one exception type for bad user input."""


class ConfigError(ValueError):
    """Bad user input: the message is one line naming the parameter and what is allowed.

    The command line prints it as ``error: <message>`` and exits with status 2.
    """
