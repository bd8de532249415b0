#!/usr/bin/env python3
"""Create N verify keys through POST /v1/keys, in parallel.

Usage: seed_keys.py BASE_URL ADMIN_KEY_FILE COUNT OUT_FILE [WORKERS]

Writes the raw secrets to OUT_FILE, one per line (mode 0600), and prints only
a count and a rate: never a secret. The admin key is read from a file so it
stays out of argv.
"""

import concurrent.futures
import json
import os
import sys
import time
import urllib.error
import urllib.request


# BENCH_ALLOWED_IPS: comma-separated networks every seeded key is limited to.
ALLOWED_IPS = [n for n in os.environ.get("BENCH_ALLOWED_IPS", "").split(",") if n]


def create(base: str, admin: str, n: int) -> str:
    spec = {"name": f"bench-{n}", "environment": "live", "scopes": ["read"]}
    if ALLOWED_IPS:
        spec["allowed_ips"] = ALLOWED_IPS
    body = json.dumps(spec).encode()
    req = urllib.request.Request(
        f"{base}/v1/keys",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, payload = res.status, res.read()
    except urllib.error.HTTPError as e:
        # Error bodies carry no secret; show them to explain the failure.
        raise RuntimeError(f"key {n}: HTTP {e.code}: {e.read()[:300]!r}") from None
    if status != 201:
        raise RuntimeError(f"key {n}: expected 201, got {status}")
    secret = json.loads(payload).get("secret")
    if not secret:
        raise RuntimeError(f"key {n}: 201 without a secret")
    return secret


def main() -> int:
    if len(sys.argv) not in (5, 6):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    base, admin_file, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    workers = int(sys.argv[5]) if len(sys.argv) == 6 else 16
    with open(admin_file, encoding="ascii") as f:
        admin = f.read().strip()
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        secrets = list(pool.map(lambda n: create(base, admin, n), range(count)))
    elapsed = time.monotonic() - started
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write("\n".join(secrets) + "\n")
    print(f"seeded {len(secrets)} keys in {elapsed:.1f}s ({len(secrets) / elapsed:.0f} keys/s, {workers} workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
