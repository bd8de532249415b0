// Builds the chart render benchmark's page as one self-contained HTML file
// (bench/chart/out/index.html: script and styles inline), so the WebKit
// runner can load it from disk with no server. See bench/README.md.
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

/** Moves the built script and stylesheet into index.html. */
function singleFile(): Plugin {
  return {
    name: "keyport-bench-single-file",
    enforce: "post",
    generateBundle(_options, bundle) {
      const html = Object.values(bundle).find((f) => f.type === "asset" && f.fileName.endsWith(".html"));
      if (!html || html.type !== "asset") throw new Error("no index.html in the bundle");
      let page = String(html.source);
      for (const [name, file] of Object.entries(bundle)) {
        const ref = file.fileName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        if (file.type === "chunk") {
          const code = file.code.replace(/<\/script/gi, "<\\/script");
          page = page.replace(new RegExp(`<script[^>]*src="[^"]*${ref}"[^>]*></script>`), () => `<script type="module">${code}</script>`);
          delete bundle[name];
        } else if (file.fileName.endsWith(".css")) {
          const css = String(file.source);
          page = page.replace(new RegExp(`<link[^>]*href="[^"]*${ref}"[^>]*>`), () => `<style>${css}</style>`);
          delete bundle[name];
        }
      }
      if (/<script[^>]*\ssrc=|<link[^>]*stylesheet/.test(page)) throw new Error("a script or stylesheet was left out of index.html");
      html.source = page;
    },
  };
}

export default defineConfig({
  root,
  base: "./",
  logLevel: "warn",
  plugins: [singleFile()],
  define: { __KEYPORT_MOCK__: "false" },
  build: {
    outDir: "out",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
});
