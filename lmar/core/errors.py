"""The one exception type the user sees: a message naming the file or key and what to do."""


class LmarError(Exception):
    """A problem with the user's input (config, files, arguments).

    The CLI prints ``error: <message>`` and exits with status 2, without a traceback.
    """


def first_line(exc: BaseException, limit: int) -> str:
    """``Type: first line of the message`` (at most ``limit`` characters of it), for a failure
    that is recorded in results and reported, while the run goes on."""
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:limit]}"
