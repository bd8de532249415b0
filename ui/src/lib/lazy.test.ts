import type { Component } from "svelte";
import { describe, expect, it, vi } from "vitest";
import { LazyComponent, preloadViews, views } from "./lazy.svelte";

const Fake = (() => undefined) as unknown as Component;

describe("lazy screens", () => {
  it("load once, on first use, and then stay", async () => {
    const loader = vi.fn(async () => ({ default: Fake }));
    const lazy = new LazyComponent(loader);
    expect(lazy.component).toBeNull();
    expect(lazy.use()).toBeNull();
    await lazy.load();
    expect(lazy.use()).toBe(Fake);
    await lazy.load();
    expect(loader).toHaveBeenCalledTimes(1);
  });

  it("try again after a failed load", async () => {
    const error = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const loader = vi
      .fn<() => Promise<{ default: Component }>>()
      .mockRejectedValueOnce(new Error("chunk missing"))
      .mockResolvedValueOnce({ default: Fake });
    const lazy = new LazyComponent(loader);
    await lazy.load();
    expect(lazy.component).toBeNull();
    expect(error).toHaveBeenCalled();
    await lazy.load();
    expect(lazy.component).toBe(Fake);
    error.mockRestore();
  });

  it("preload every screen and dialog the first screen leaves out", async () => {
    await preloadViews();
    for (const [name, view] of Object.entries(views)) {
      expect(view.component, name).not.toBeNull();
    }
  });
});
