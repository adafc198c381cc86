"""The tenant-context contract for application code: one transaction, context set first.

``SET LOCAL`` cannot take bind parameters, so the values are validated as UUIDs and sent as
quoted literals. BEGIN and both ``SET LOCAL`` statements go in one round trip. ``SET LOCAL`` is
scoped to the transaction, which makes it safe behind PgBouncer transaction pooling and is the
form Citus propagates to workers.
"""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from typing import Iterator

import psycopg


def context_sql(organization_id: uuid.UUID | str, user_id: uuid.UUID | str | None = None) -> str:
    """The statements that set the context; raises ValueError unless the ids are UUIDs."""
    org = str(uuid.UUID(str(organization_id)))
    parts = [f"SET LOCAL app.organization_id = '{org}'"]
    if user_id is not None:
        parts.append(f"SET LOCAL app.user_id = '{uuid.UUID(str(user_id))}'")
    else:
        parts.append("SET LOCAL app.user_id = ''")
    return "; ".join(parts)


@contextmanager
def transaction(
    conn: psycopg.Connection,
    organization_id: uuid.UUID | str,
    user_id: uuid.UUID | str | None = None,
) -> Iterator[psycopg.Connection]:
    """Run a block in a transaction whose tenant context is ``organization_id`` / ``user_id``.

    Commits on success, rolls back on error. The connection must not be inside a transaction.
    """
    statements = context_sql(organization_id, user_id)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        raise RuntimeError("tenant.transaction needs a connection that is not inside a transaction")
    previous = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute(f"BEGIN; {statements}".encode())  # one round trip, simple protocol
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
    finally:
        conn.autocommit = previous
