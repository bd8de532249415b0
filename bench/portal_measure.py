#!/usr/bin/env python3
"""Cold start and memory of the portal against a bare Tauri window.

Run by bench/portal.sh inside Xvfb and a private Secret Service (see
README.md). Three apps: the portal, the bare window with WebKit's default
painter ("bare"), and the bare window with Skia's CPU painter ("bare-cpu",
the painter the portal picks on a machine without a GPU). For each app: one
unmeasured warm-up launch on a fresh profile (for the portal that is its
first launch: it creates the local account), then RUNS measured launches on
that profile, the apps taking turns.

A launch: take CLOCK_MONOTONIC, exec the app with KEYPORT_STARTUP_PROBE=1,
read its stdout until `KEYPORT_STARTUP_READY monotonic_ns=N` (printed by the
`startup_ready` command, which the page calls once its first key list, or
for the bare app its page, is painted): cold start = N - start. SETTLE
seconds later, sum VmRSS (and Pss) over the app's process tree (main process
plus its WebKit children, from /proc). Then stop the process group.
"""

import argparse
import json
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time

READY = "KEYPORT_STARTUP_READY"
# WebKitGTK's switch to Skia's CPU painter. The portal sets it itself when the
# machine has no GPU (crates/keyport-portal/src/render.rs); the bare window is
# measured both with WebKit's default and with it, and the portal is held to
# the target against both.
CPU_PAINTING = "WEBKIT_SKIA_ENABLE_CPU_RENDERING"
PHASE = "KEYPORT_STARTUP_PHASE"


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: fields restart after the last ')'.
        rest = stat[stat.rindex(")") + 2 :].split()
        kids.setdefault(int(rest[1]), []).append(int(d))
    return kids


def process_tree(pid):
    kids = children_map()
    out = [pid]
    i = 0
    while i < len(out):
        out.extend(kids.get(out[i], []))
        i += 1
    return out


def read_kb(path, field):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def memory(pid):
    """[(comm, rss_kb, pss_kb)] for the process and its descendants."""
    return [
        (comm(p), read_kb(f"/proc/{p}/status", "VmRSS"), read_kb(f"/proc/{p}/smaps_rollup", "Pss"))
        for p in process_tree(pid)
    ]


def stop(proc):
    """SIGTERM to the app's process group (the app and its WebKit children), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def launch(name, binary, profile, settle, log_path, timeout, extra_env):
    env = dict(os.environ)
    env.pop(CPU_PAINTING, None)
    env.update(extra_env)
    env.update(
        XDG_DATA_HOME=os.path.join(profile, "data"),
        XDG_CONFIG_HOME=os.path.join(profile, "config"),
        XDG_CACHE_HOME=os.path.join(profile, "cache"),
        KEYPORT_STARTUP_PROBE="1",
    )
    for d in ("data", "config", "cache"):
        os.makedirs(os.path.join(profile, d), exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"--- {name} launch\n".encode())
        log.flush()
        t0 = now_ns()
        proc = subprocess.Popen(
            [binary], stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True
        )
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        buf = b""
        ready = None
        phases = {}
        deadline = time.monotonic() + timeout
        while ready is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"{name}: no {READY} line within {timeout} s (see {log_path})")
            if not sel.select(timeout=left):
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"{name}: exited with {proc.wait()} before {READY} (see {log_path})")
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                text = line.decode(errors="replace")
                if text.startswith(PHASE + " name="):
                    fields = dict(f.split("=", 1) for f in text.split()[1:] if "=" in f)
                    if fields.get("monotonic_ns", "").isdigit():
                        phases[fields["name"]] = (int(fields["monotonic_ns"]) - t0) / 1e6
                if text.startswith(READY + " monotonic_ns="):
                    ready = int(text.split("=", 1)[1])
                    break
        start_ms = (ready - t0) / 1e6
        time.sleep(settle)
        if proc.poll() is not None:
            raise RuntimeError(f"{name}: exited during the settle time (see {log_path})")
        procs = memory(proc.pid)
        return {
            "start_ms": start_ms,
            "phases_ms": phases,
            "rss_mib": sum(p[1] for p in procs) / 1024,
            "pss_mib": sum(p[2] for p in procs) / 1024,
            "processes": [{"comm": c, "rss_mib": r / 1024, "pss_mib": s / 1024} for c, r, s in procs],
        }
    finally:
        stop(proc)


def by_process(runs):
    """Median RSS/PSS per process name over the runs (names summed within a run)."""
    names = sorted({p["comm"] for r in runs for p in r["processes"]})
    out = {}
    for n in names:
        rss = [sum(p["rss_mib"] for p in r["processes"] if p["comm"] == n) for r in runs]
        pss = [sum(p["pss_mib"] for p in r["processes"] if p["comm"] == n) for r in runs]
        out[n] = (statistics.median(rss), statistics.median(pss))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--portal", required=True)
    ap.add_argument("--bare", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle", type=float, default=3.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--target", type=float, default=1.2)
    ap.add_argument("--out", required=True)
    ap.add_argument("--label", default="")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    apps = {"portal": a.portal, "bare": a.bare, "bare-cpu": a.bare}
    extra = {"portal": {}, "bare": {}, "bare-cpu": {CPU_PAINTING: "1"}}
    logs = {n: os.path.join(a.out, f"portal-bench-{n}.log") for n in apps}
    for p in logs.values():
        open(p, "w").close()

    with tempfile.TemporaryDirectory(prefix="keyport-bench-") as tmp:
        profiles = {n: os.path.join(tmp, n) for n in apps}
        first = {}
        for n, b in apps.items():
            first[n] = launch(n, b, profiles[n], a.settle, logs[n], a.timeout, extra[n])
            print(f"warm-up   {n:<8}  start {first[n]['start_ms']:7.0f} ms   RSS {first[n]['rss_mib']:6.1f} MiB"
                  f"   (first launch on a fresh profile; not counted)", flush=True)
        runs = {n: [] for n in apps}
        for i in range(a.runs):
            for n, b in apps.items():
                r = launch(n, b, profiles[n], a.settle, logs[n], a.timeout, extra[n])
                runs[n].append(r)
                print(f"run {i + 1}/{a.runs} {n:<8}  start {r['start_ms']:7.0f} ms   RSS {r['rss_mib']:6.1f} MiB"
                      f"   PSS {r['pss_mib']:6.1f} MiB", flush=True)

    med = {
        n: {k: statistics.median(r[k] for r in runs[n]) for k in ("start_ms", "rss_mib", "pss_mib")}
        for n in apps
    }
    bares = [n for n in apps if n != "portal"]
    ratios = {
        b: {k: med["portal"][k] / med[b][k] for k in ("start_ms", "rss_mib", "pss_mib")} for b in bares
    }

    print()
    print(f"medians of {a.runs} runs (RSS/PSS {a.settle:g} s after ready)")
    print(f"  {'':8} {'cold start':>12} {'total RSS':>12} {'total PSS':>12}")
    for n in apps:
        m = med[n]
        print(f"  {n:8} {m['start_ms']:9.0f} ms {m['rss_mib']:8.1f} MiB {m['pss_mib']:8.1f} MiB")
    ok = lambda r: "ok" if r <= a.target else f"ABOVE the {a.target:g}x target"  # noqa: E731
    for b in bares:
        r = ratios[b]
        print(f"  ratio portal/{b}: cold start {r['start_ms']:.2f}x ({ok(r['start_ms'])}), "
              f"RSS {r['rss_mib']:.2f}x ({ok(r['rss_mib'])})   [PSS {r['pss_mib']:.2f}x, for information]")
    # The VM drifts: whole rounds run fast or slow together. The ratio taken
    # within each round (the apps launched back to back) cancels that drift.
    per_round = {
        b: statistics.median(p["start_ms"] / q["start_ms"] for p, q in zip(runs["portal"], runs[b])) for b in bares
    }
    for b in bares:
        print(f"  cold start portal/{b}, median of the per-round ratios: {per_round[b]:.2f}x ({ok(per_round[b])})")
    worst_start = max(max(r["start_ms"] for r in ratios.values()), max(per_round.values()))
    worst_rss = max(r["rss_mib"] for r in ratios.values())
    print(f"  against the stricter baseline: cold start {worst_start:.2f}x ({ok(worst_start)}), "
          f"RSS {worst_rss:.2f}x ({ok(worst_rss)})")
    for n in apps:
        phases = sorted(
            {p for r in runs[n] for p in r["phases_ms"]},
            key=lambda p: statistics.median(r["phases_ms"].get(p, 0) for r in runs[n]),
        )
        if phases:
            print()
            print(f"{n} startup phases (medians, ms after exec; ui.* from the page's performance.now()):")
            for p in phases:
                at = [r["phases_ms"][p] for r in runs[n] if p in r["phases_ms"]]
                print(f"  {p:<18} {statistics.median(at):7.0f} ms")
    print()
    print("per process (medians, MiB RSS / PSS):")
    for n in apps:
        parts = ", ".join(f"{c} {r:.0f}/{p:.0f}" for c, (r, p) in by_process(runs[n]).items())
        print(f"  {n:8} {parts}")

    result = {
        "label": a.label,
        "runs": a.runs,
        "settle_s": a.settle,
        "medians": med,
        "ratios": {
            b: {"start": r["start_ms"], "start_per_round": per_round[b], "rss": r["rss_mib"], "pss": r["pss_mib"]}
            for b, r in ratios.items()
        },
        "warmup": first,
        "all": runs,
    }
    path = os.path.join(a.out, "portal-bench.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\nraw results: {path}; app logs: {', '.join(logs.values())}")


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
