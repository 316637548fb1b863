"""`python -m store.migrations revision -m "what changed" --rev-id 0003_name`

Autogenerates a revision file in versions/ by comparing the models with a scratch SQLite
database migrated to the current head. Read and correct the file before committing it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from alembic import command

from store.db import make_engine
from store.migrations import alembic_config, head_revision, migrate


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m store.migrations")
    sub = parser.add_subparsers(dest="cmd", required=True)
    rev = sub.add_parser("revision", help="autogenerate a new revision file")
    rev.add_argument("-m", "--message", required=True)
    rev.add_argument("--rev-id", required=True, help="e.g. 0003_ca (the file name, too)")
    sub.add_parser("heads", help="print the newest revision id")
    args = parser.parse_args()
    if args.cmd == "heads":
        print(head_revision())
        return
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            migrate(engine)
            with engine.begin() as connection:
                command.revision(
                    alembic_config(connection), message=args.message, autogenerate=True, rev_id=args.rev_id
                )
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
