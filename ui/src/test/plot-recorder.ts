// Chart tests: jsdom has no canvas, so the plot construction (usage-plot.ts
// plotSeam) is swapped for a recorder of what uPlot would have been given.
import type uPlot from "uplot";
import { plotSeam } from "../lib/usage-plot";

export type MadePlot = {
  opts: uPlot.Options;
  data: uPlot.AlignedData;
  updates: number;
  sizes: { width: number; height: number }[];
  destroyed: boolean;
  over: HTMLDivElement;
};

const realCreate = plotSeam.create;

/** Records every plot made until `restore`; returns the list it fills. */
export function recordPlots(): { made: MadePlot[]; restore: () => void } {
  const made: MadePlot[] = [];
  plotSeam.create = (opts, data, target) => {
    const root = document.createElement("div");
    const over = root.appendChild(document.createElement("div"));
    const rec: MadePlot = { opts, data, updates: 0, sizes: [], destroyed: false, over };
    made.push(rec);
    target.appendChild(root);
    const fake = {
      root,
      over,
      batch: (fn: () => void) => fn(),
      setData: (d: uPlot.AlignedData) => {
        rec.data = d;
        rec.updates += 1;
      },
      setSize: (s: { width: number; height: number }) => rec.sizes.push(s),
      destroy: () => {
        rec.destroyed = true;
        root.remove();
      },
    };
    return fake as unknown as uPlot;
  };
  return { made, restore: () => (plotSeam.create = realCreate) };
}

/** A canvas context that records the calls the chart's overlays make. */
export function recordingContext() {
  const calls: { op: string; args: unknown[] }[] = [];
  const dash: number[][] = [];
  const ctx = new Proxy(
    {} as Record<string, unknown>,
    {
      get(target, prop: string) {
        if (prop in target) return target[prop];
        if (prop === "setLineDash") return (d: number[]) => dash.push(d);
        return (...args: unknown[]) => calls.push({ op: prop, args });
      },
      set(target, prop: string, value) {
        target[prop] = value;
        return true;
      },
    },
  );
  return { ctx: ctx as unknown as CanvasRenderingContext2D, calls, dash };
}
