#!/usr/bin/env python3
"""Seed COUNT keys straight into a keyport SQLite database, for the scale
benchmark (a million keys through POST /v1/keys would take most of an hour).

Usage: seed_db.py DATABASE TEMPLATE_KEY_ID COUNT OUT_FILE

DATABASE: a SQLite file (or sqlite://FILE), or a postgres:// URL (through
psql: the rows are copied in with COPY, the change-feed trigger off for the
load, as the keys exist before any server starts).

Every new row copies the template key's row (created through the API, so
every column holds what the service writes) with its own id, name, hash and
last four. The raw keys (to_live_ + 56 hex + CRC32, the service's format) go
to OUT_FILE (mode 0600), one per line; nothing secret is printed.
"""

import hashlib
import os
import secrets
import sqlite3
import subprocess
import sys
import time
import zlib


def make_key() -> str:
    body = "to_live_" + secrets.token_hex(28)
    return body + format(zlib.crc32(body.encode()) & 0xFFFFFFFF, "08x")


def seeded(count: int, out: str):
    """(id, name, key_hash, last4) per new key; the raw keys go to OUT."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for n in range(count):
            key = make_key()
            f.write(key + "\n")
            yield f"key_seed{n:09d}", f"seed-{n}", hashlib.sha256(key.encode()).hexdigest(), key[-4:]


def seed_postgres(url: str, template: str, count: int, out: str) -> None:
    # Goes into the SQL text below: a key id, nothing else.
    if not template.replace("_", "").isalnum():
        sys.exit(f"not a key id: {template!r}")
    def psql(*args: str, **kw) -> str:
        return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atq", *args],
                              check=True, text=True, stdout=subprocess.PIPE, **kw).stdout
    cols = psql("-c", "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = 'api_keys' AND column_name <> 'seq' "
                "ORDER BY ordinal_position").split()
    own = ["id", "name", "key_hash", "last4"]
    picked = ", ".join(f"s.{c}" if c in own else f"t.{c}" for c in cols)
    head = (
        "SET session_replication_role = replica;\n"
        "CREATE TEMP TABLE seed (id TEXT, name TEXT, key_hash TEXT, last4 TEXT);\n"
        "COPY seed FROM STDIN;\n"
    )
    tail = (
        "\\.\n"
        f"INSERT INTO api_keys ({', '.join(cols)}) SELECT {picked} FROM seed s, api_keys t "
        f"WHERE t.id = '{template}';\n"
    )
    proc = subprocess.Popen(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-f", "-"],
                            stdin=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(head)
    for row in seeded(count, out):
        proc.stdin.write("\t".join(row) + "\n")
    proc.stdin.write(tail)
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit("psql failed")
    got = int(psql("-c", "SELECT count(*) FROM api_keys WHERE id LIKE 'key_seed%'"))
    if got != count:
        sys.exit(f"seeded {got} keys, not {count} (is {template} in the database?)")


def main() -> None:
    db, template, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    started = time.monotonic()
    if db.startswith(("postgres://", "postgresql://")):
        seed_postgres(db, template, count, out)
    else:
        seed_sqlite(db.removeprefix("sqlite://").split("?")[0], template, count, out)
    print(f"seeded {count} keys in {time.monotonic() - started:.1f} s", file=sys.stderr)


def seed_sqlite(db_file: str, template: str, count: int, out: str) -> None:
    db = sqlite3.connect(db_file)
    # Every column but the row number, which SQLite assigns.
    cols = [r[1] for r in db.execute("PRAGMA table_info(api_keys)") if r[1] != "seq"]
    row = db.execute(f"SELECT {', '.join(cols)} FROM api_keys WHERE id = ?", (template,)).fetchone()
    if row is None:
        sys.exit(f"no key {template} in {db_file}")
    base = dict(zip(cols, row))
    marks = ", ".join("?" for _ in cols)
    sql = f"INSERT INTO api_keys ({', '.join(cols)}) VALUES ({marks})"
    batch = []
    for key_id, name, key_hash, last4 in seeded(count, out):
        r = dict(base, id=key_id, name=name, key_hash=key_hash, last4=last4)
        batch.append([r[c] for c in cols])
        if len(batch) == 50_000:
            db.executemany(sql, batch)
            batch.clear()
    db.executemany(sql, batch)
    db.commit()
    db.close()


if __name__ == "__main__":
    main()
