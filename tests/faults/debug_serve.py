"""`eseal serve` with every log turned up, for the log-secrets test: the same gunicorn
application as cli/serve.py, with gunicorn at DEBUG, its access and error logs written to
files, and Python's root logger at DEBUG (the app's loggers and SQLAlchemy's, which then
echoes SQL with its parameters) on stderr.

    python -m tests.faults.debug_serve HOME PORT LOG_DIR   (passphrase in ESEAL_PASSPHRASE)
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def main(home: str, port: str, log_dir: str) -> None:
    import cli.main  # noqa: F401  (registers the commands; cli.serve alone is a circular import)
    from cli.serve import _application, _preflight

    _debug_logging()
    passphrase = os.environ["ESEAL_PASSPHRASE"]
    path = _preflight(Path(home), passphrase)
    logs = Path(log_dir)
    options = {
        "bind": f"127.0.0.1:{port}", "workers": 2, "worker_class": "gthread", "threads": 4, "timeout": 120,
        "loglevel": "debug", "accesslog": str(logs / "access.log"), "errorlog": str(logs / "error.log"),
        # the request line, query string, referrer and user agent (never a header holding a credential:
        # an operator's log format choice, not the service's)
        "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s q="%(q)s" ua="%(a)s" ref="%(f)s"',
        "capture_output": False, "proc_name": "eseal-debug",
    }
    application = _application(path, passphrase, options)
    load = application.load

    def load_then_debug():  # noqa: ANN202
        app = load()
        _debug_logging()  # opening the home runs the migrations, whose logging config turns the root down
        return app

    application.load = load_then_debug
    application.run()


def _debug_logging() -> None:
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, force=True,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False
            logger.setLevel(logging.NOTSET)


if __name__ == "__main__":
    main(*sys.argv[1:4])
