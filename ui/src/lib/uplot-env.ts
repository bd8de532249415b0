// Imported before uPlot (usage-plot.ts): uPlot runs code when it loads that
// assumes a browser with a sane locale.
//
// - It builds `new Intl.NumberFormat(navigator.language)`. WebKitGTK takes
//   navigator.language from the environment, and under LANG=C (containers,
//   minimal systems) that is "C", which is no language tag: the constructor
//   throws and the whole chart module fails to load. Then the page reads as
//   en-US, like the app's own number formatting (format.ts).
// - It asks matchMedia for the pixel ratio. Every browser has it; jsdom (the
//   tests, which also load the lazy screens) does not: there it answers "no
//   match".

export function guardLanguage(nav: Navigator | undefined = globalThis.navigator): void {
  if (!nav) return;
  try {
    new Intl.NumberFormat(nav.language);
  } catch {
    Object.defineProperty(nav, "language", { value: "en-US", configurable: true });
  }
}

export function guardMatchMedia(win: (Window & typeof globalThis) | undefined = globalThis.window): void {
  if (!win || typeof win.matchMedia === "function") return;
  win.matchMedia = ((query: string) => ({
    matches: false,
    media: query,
    onchange: null,
    addEventListener() {},
    removeEventListener() {},
    addListener() {},
    removeListener() {},
    dispatchEvent: () => false,
  })) as unknown as typeof win.matchMedia;
}

guardLanguage();
guardMatchMedia();
