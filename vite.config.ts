import { fileURLToPath } from "node:url";
import { svelte, vitePreprocess } from "@sveltejs/vite-plugin-svelte";
import { svelteTesting } from "@testing-library/svelte/vite";
import { defineConfig } from "vitest/config";

// The portal's web UI lives in ui/ and is built to ui/dist (Tauri's frontendDist).
//
// `--mode mock` builds a browser-only variant to ui/dist-mock with the in-memory
// dev backend (ui/src/lib/mock-backend.ts) for screenshots; the normal build
// never contains it (`__KEYPORT_MOCK__` is false, so the import is dropped).

const root = fileURLToPath(new URL("./ui", import.meta.url));

// The same policy tauri.conf.json sets, so `vite preview` shows CSP problems.
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self' ipc: http://ipc.localhost",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

export default defineConfig(({ mode }) => {
  const mock = mode === "mock" || mode === "development";
  return {
    root,
    base: "./",
    clearScreen: false,
    plugins: [svelte({ configFile: false, preprocess: vitePreprocess() }), svelteTesting()],
    define: {
      __KEYPORT_MOCK__: JSON.stringify(mock),
    },
    build: {
      outDir: mode === "mock" ? "dist-mock" : "dist",
      emptyOutDir: true,
      // No data: URIs: the CSP allows only 'self'.
      assetsInlineLimit: 0,
      sourcemap: false,
    },
    server: { port: 1420, strictPort: true, host: "127.0.0.1" },
    preview: { port: 4173, host: "127.0.0.1", headers: { "Content-Security-Policy": CSP } },
    test: {
      include: ["src/**/*.test.ts"],
      environment: "jsdom",
    },
  };
});
