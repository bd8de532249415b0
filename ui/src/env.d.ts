/// <reference types="vite/client" />
/// <reference types="svelte" />

/** True only in `vite --mode mock` builds and the dev server: enables the in-memory backend. */
declare const __KEYPORT_MOCK__: boolean;
