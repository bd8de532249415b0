#!/usr/bin/env python3
"""Management-call throughput: create COUNT keys, then revoke them, through
POST /v1/keys and POST /v1/keys/{id}/revoke, in parallel.

Usage: manage.py BASE_URL ADMIN_KEY_FILE COUNT [WORKERS]

Prints one line, `MANAGE create_per_s=… revoke_per_s=… count=… workers=…`,
and never a secret (the created keys' secrets are dropped unread). The
server serialises management writes, so this measures one write path and
its database (each call is a transaction with its audit row).
"""

import concurrent.futures
import json
import sys
import time
import urllib.error
import urllib.request


def call(base: str, admin: str, path: str, body: dict | None) -> dict:
    req = urllib.request.Request(
        f"{base}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        method="POST",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.loads(res.read())
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{path}: HTTP {e.code}: {e.read()[:300]!r}") from None


def timed(workers: int, fn, items) -> tuple[list, float]:
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        out = list(pool.map(fn, items))
    return out, time.monotonic() - started


def main() -> int:
    if len(sys.argv) not in (4, 5):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    base, admin_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    workers = int(sys.argv[4]) if len(sys.argv) == 5 else 16
    with open(admin_file, encoding="ascii") as f:
        admin = f.read().strip()
    body = lambda n: {"name": f"manage-{n}", "environment": "live", "scopes": ["read"]}  # noqa: E731
    ids, created_s = timed(workers, lambda n: call(base, admin, "/v1/keys", body(n))["key"]["id"], range(count))
    _, revoked_s = timed(workers, lambda i: call(base, admin, f"/v1/keys/{i}/revoke", None), ids)
    print(
        f"MANAGE create_per_s={count / created_s:.0f} revoke_per_s={count / revoked_s:.0f} "
        f"count={count} workers={workers}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
