#!/usr/bin/env python3
"""Seed COUNT keys straight into a keyport SQLite database, for the scale
benchmark (a million keys through POST /v1/keys would take most of an hour).

Usage: seed_db.py DB_FILE TEMPLATE_KEY_ID COUNT OUT_FILE

Every new row copies the template key's row (created through the API, so
every column holds what the service writes) with its own id, name, hash and
last four. The raw keys (to_live_ + 56 hex + CRC32, the service's format) go
to OUT_FILE (mode 0600), one per line; nothing secret is printed.
"""

import hashlib
import os
import secrets
import sqlite3
import sys
import time
import zlib


def make_key() -> str:
    body = "to_live_" + secrets.token_hex(28)
    return body + format(zlib.crc32(body.encode()) & 0xFFFFFFFF, "08x")


def main() -> None:
    db_file, template, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    started = time.monotonic()
    db = sqlite3.connect(db_file)
    # Every column but the row number, which SQLite assigns.
    cols = [r[1] for r in db.execute("PRAGMA table_info(api_keys)") if r[1] != "seq"]
    row = db.execute(f"SELECT {', '.join(cols)} FROM api_keys WHERE id = ?", (template,)).fetchone()
    if row is None:
        sys.exit(f"no key {template} in {db_file}")
    base = dict(zip(cols, row))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    marks = ", ".join("?" for _ in cols)
    sql = f"INSERT INTO api_keys ({', '.join(cols)}) VALUES ({marks})"
    with os.fdopen(fd, "w") as f:
        batch = []
        for n in range(count):
            key = make_key()
            f.write(key + "\n")
            r = dict(base)
            r["id"] = f"key_seed{n:09d}"
            r["name"] = f"seed-{n}"
            r["key_hash"] = hashlib.sha256(key.encode()).hexdigest()
            r["last4"] = key[-4:]
            batch.append([r[c] for c in cols])
            if len(batch) == 50_000:
                db.executemany(sql, batch)
                batch.clear()
        db.executemany(sql, batch)
    db.commit()
    db.close()
    print(f"seeded {count} keys in {time.monotonic() - started:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
