"""``python -m dashboards.check``: refuse to serve with a bad configuration (fail closed)."""

from __future__ import annotations

import sys

from cqp_metrics.config import InputError, scope_from_env
from cqp_metrics.db import DatabaseError, database_url


def main() -> int:
    try:
        scope = scope_from_env()
        database_url()
    except (InputError, DatabaseError) as error:
        print(f"Le serveur ne démarre pas : {error}", file=sys.stderr)
        return 1
    if scope is not None:
        print("Branches servies : " + ", ".join(scope))
    return 0


if __name__ == "__main__":
    sys.exit(main())
