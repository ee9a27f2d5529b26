"""``LoggingHandler``: log records written through tqdm, so they do not break progress bars."""

from __future__ import annotations

import logging

from tqdm import tqdm


class LoggingHandler(logging.Handler):
    """A handler that prints each formatted record with ``tqdm.write``.

    Example::

        logging.basicConfig(format="%(asctime)s - %(message)s", level=logging.INFO, handlers=[LoggingHandler()])
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record))
            self.flush()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception:
            self.handleError(record)
