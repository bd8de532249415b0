import { afterEach, describe, expect, it } from "vitest";
import { guardLanguage, guardMatchMedia } from "./uplot-env";

afterEach(() => {
  delete (navigator as unknown as Record<string, unknown>).language;
});

describe("guardLanguage", () => {
  it("replaces a language that is no language tag (LANG=C)", () => {
    Object.defineProperty(navigator, "language", { value: "C", configurable: true });
    expect(() => new Intl.NumberFormat(navigator.language)).toThrow(RangeError);
    guardLanguage();
    expect(navigator.language).toBe("en-US");
    expect(() => new Intl.NumberFormat(navigator.language)).not.toThrow();
  });

  it("keeps a valid language", () => {
    Object.defineProperty(navigator, "language", { value: "de-DE", configurable: true });
    guardLanguage();
    expect(navigator.language).toBe("de-DE");
  });
});

describe("guardMatchMedia", () => {
  it("gives a window without matchMedia one that matches nothing", () => {
    const win = {} as Window & typeof globalThis;
    guardMatchMedia(win);
    const q = win.matchMedia("(min-resolution: 2dppx)");
    expect(q.matches).toBe(false);
    expect(q.media).toBe("(min-resolution: 2dppx)");
    expect(() => q.addEventListener("change", () => undefined)).not.toThrow();
  });

  it("leaves a real one alone", () => {
    const own = () => ({}) as MediaQueryList;
    const win = { matchMedia: own } as unknown as Window & typeof globalThis;
    guardMatchMedia(win);
    expect(win.matchMedia).toBe(own);
  });
});
