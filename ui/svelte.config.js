// Used by svelte-check and editors; vite.config.ts passes the same options inline.
import { vitePreprocess } from "@sveltejs/vite-plugin-svelte";

export default { preprocess: vitePreprocess() };
