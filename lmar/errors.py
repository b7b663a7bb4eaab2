"""The one exception type the user sees: a message naming the file or key and what to do."""


class LmarError(Exception):
    """A problem with the user's input (config, files, arguments).

    The CLI prints ``error: <message>`` and exits with status 2, without a traceback.
    """
