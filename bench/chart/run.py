#!/usr/bin/env python3
"""Runs the chart render benchmark page in WebKitGTK and prints the figures.

Run by bench/chart.sh under xvfb-run (see bench/README.md). Opens
bench/chart/out/index.html in an offscreen WebKit2 WebView (GTK 3,
WebKit2GTK 4.1: the engine the Tauri app uses on Linux), waits for the page
to say in document.title that it is done, reads its results
(window.__chartBench), and prints per case the median of
each measurement over the rounds, then the ratio (b)/(a) per round.
"""

import argparse
import json
import os
import statistics
import sys

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import GLib, Gtk, WebKit2  # noqa: E402

DONE = "CHART_BENCH_DONE"
ERROR = "CHART_BENCH_ERROR "
METRICS = [
    ("build", "construct + first draw"),
    ("redraw", "redraw with new data (setData)"),
    ("cursor", "cursor move (tooltip)"),
    ("columns", "points → uPlot columns"),
    ("buildScript", "  of build: script until flush"),
    ("redrawScript", "  of redraw: script until flush"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--page", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--moves", type=int, default=60)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--dark", action="store_true", help="ask GTK (and so the page) for the dark theme")
    ap.add_argument("--snapshot", help="save a PNG of the page after the last round")
    ap.add_argument("--json", help="write the raw results here")
    args = ap.parse_args()

    if args.dark:
        Gtk.Settings.get_default().set_property("gtk-application-prefer-dark-theme", True)

    state = {"result": None, "error": None}
    win = Gtk.OffscreenWindow()
    win.set_default_size(1280, 800)
    view = WebKit2.WebView()
    view.get_settings().set_allow_file_access_from_file_urls(True)
    win.add(view)
    win.show_all()

    def finish():
        if args.snapshot and state["result"] is not None:
            view.get_snapshot(WebKit2.SnapshotRegion.VISIBLE, WebKit2.SnapshotOptions.NONE, None, on_snapshot)
        else:
            Gtk.main_quit()

    def on_snapshot(v, res):
        try:
            surface = v.get_snapshot_finish(res)
            surface.write_to_png(args.snapshot)
        except Exception as e:  # the figures matter more than the picture
            print(f"snapshot failed: {e}", file=sys.stderr)
        Gtk.main_quit()

    def on_result(v, res):
        try:
            state["result"] = json.loads(v.evaluate_javascript_finish(res).to_string())
        except Exception as e:
            state["error"] = f"could not read the results: {e}"
            Gtk.main_quit()
            return
        finish()

    def on_title(v, _pspec):
        title = v.get_title() or ""
        if title.startswith(ERROR):
            state["error"] = title[len(ERROR):]
            Gtk.main_quit()
        elif title == DONE:
            v.evaluate_javascript("window.__chartBench", -1, None, None, None, on_result)

    def on_timeout():
        state["error"] = f"no result within {args.timeout} s"
        Gtk.main_quit()
        return False

    view.connect("notify::title", on_title)
    GLib.timeout_add_seconds(args.timeout, on_timeout)
    uri = "file://" + os.path.abspath(args.page) + f"?rounds={args.rounds}&moves={args.moves}"
    view.load_uri(uri)
    Gtk.main()

    if state["error"]:
        print(f"chart bench failed: {state['error']}", file=sys.stderr)
        return 1
    res = state["result"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    report(res)
    return 0


def report(res):
    cases = {c["id"]: c for c in res["cases"]}
    rounds = res["rounds"]
    size = res["size"]
    print(
        f"WebKitGTK {WebKit2.get_major_version()}.{WebKit2.get_minor_version()}.{WebKit2.get_micro_version()}, "
        f"chart {size['width']}×{size['height']} CSS px at pixel ratio {size['pixelRatio']}, "
        f"{len(rounds)} rounds (after 1 warm-up), {res['moves']} cursor moves and {res['redraws']} redraws per round; "
        f"{os.environ.get('WEBKIT_SKIA_ENABLE_CPU_RENDERING') and 'Skia CPU painter' or 'WebKit default painter'}"
    )
    for cid, c in cases.items():
        print(f"  ({cid}) {c['label']}: {c['points']:,} points × {c['series']} series")
    print()
    print(f"{'median ms':<34}{'(a)':>10}{'(b)':>10}{'(b)/(a)':>10}")
    for key, label in METRICS:
        a = statistics.median(r["a"][key] for r in rounds)
        b = statistics.median(r["b"][key] for r in rounds)
        ratio = f"{b / a:>9.1f}×" if a > 0 else f"{'–':>10}"
        print(f"{label:<34}{a:>10.2f}{b:>10.2f}{ratio}")
    print()
    print("ratio (b)/(a) per round:")
    for key, label in METRICS[:3]:
        per = [r["b"][key] / r["a"][key] for r in rounds if r["a"][key] > 0]
        line = " ".join(f"{x:.1f}" for x in per)
        print(f"  {key:<8} {line}   (median {statistics.median(per):.1f}×)")
    print()
    print("per round, ms (a) / (b):")
    for i, r in enumerate(rounds, 1):
        cells = "  ".join(f"{k} {r['a'][k]:.1f}/{r['b'][k]:.1f}" for k, _ in METRICS)
        print(f"  {i:>2}  {cells}")


if __name__ == "__main__":
    sys.exit(main())
