// Screens and dialogs that the first screen (the key list) does not show are
// loaded as separate chunks: the script the window runs before its first
// frame stays small. All of them load in the background once the key list
// is painted, so opening one later is immediate.
import type { Component } from "svelte";

/** A component loaded on first use (or by `preloadViews`). */
export class LazyComponent<C extends Component<any>> {
  component = $state.raw<C | null>(null);
  #pending: Promise<void> | null = null;

  constructor(private readonly loader: () => Promise<{ default: C }>) {}

  /** The component once loaded (null until then); starts the load. */
  use(): C | null {
    void this.load();
    return this.component;
  }

  load(): Promise<void> {
    this.#pending ??= this.loader().then(
      (m) => {
        this.component = m.default;
      },
      (e: unknown) => {
        // Local assets: a failure here is a packaging bug. Allow a retry.
        this.#pending = null;
        console.error("Could not load a screen of the portal.", e);
      },
    );
    return this.#pending;
  }
}

const lazy = <C extends Component<any>>(loader: () => Promise<{ default: C }>) => new LazyComponent(loader);

export const views = {
  usage: lazy(() => import("./components/UsagePage.svelte")),
  alerts: lazy(() => import("./components/AlertsPage.svelte")),
  audit: lazy(() => import("./components/AuditPage.svelte")),
  account: lazy(() => import("./components/AccountPage.svelte")),
  /** Account → Policies: its own chunk, so the Account screen stays small. */
  policies: lazy(() => import("./components/PoliciesSection.svelte")),
  services: lazy(() => import("./components/ServicesPage.svelte")),
  keychainProblem: lazy(() => import("./components/KeychainProblem.svelte")),
  keyDrawer: lazy(() => import("./components/KeyDrawer.svelte")),
  createKey: lazy(() => import("./components/CreateKeyDialog.svelte")),
  revoke: lazy(() => import("./components/RevokeDialog.svelte")),
  signOut: lazy(() => import("./components/SignOutDialog.svelte")),
  showOnce: lazy(() => import("./components/ShowOnceDialog.svelte")),
  rotate: lazy(() => import("./components/RotationWizard.svelte")),
  compromise: lazy(() => import("./components/CompromiseDialog.svelte")),
  quarantine: lazy(() => import("./components/QuarantineDialog.svelte")),
  tighten: lazy(() => import("./components/TightenDialog.svelte")),
  scanResults: lazy(() => import("./components/ScanResultsDialog.svelte")),
  rotatePicker: lazy(() => import("./components/RotatePickerDialog.svelte")),
  adminRotation: lazy(() => import("./components/AdminRotationDialog.svelte")),
};

/** Loads every lazy screen and dialog (after the first key list is painted). */
export function preloadViews(): Promise<unknown> {
  return Promise.all(Object.values(views).map((v) => v.load()));
}
