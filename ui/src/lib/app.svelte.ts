// App state: the connection, the loaded keys and audit events, which screen
// and which dialog is open. Components read it and call its actions.
import { tick } from "svelte";
import { api, onCall, onEnrollLink } from "./api";
import { errorLine } from "./errors";
import { appendPage, EMPTY_FILTER, upsertKey, type KeyFilter } from "./filters";
import { formatDate, maskKey } from "./format";
import { isPortalCredential } from "./credential";
import { isEndpointAlert, kindLabel, openCountByKey } from "./alert-counts";
import { toasts } from "./toasts.svelte";
import type {
  AccountView,
  Alert,
  AuditView,
  EnrollLink,
  EnrollOffer,
  FolderScan,
  KeyList,
  KeyView,
  OnceSecret,
  PlanRow,
  PortalError,
  PortalStatus,
  Restriction,
  SavedService,
} from "./types";
import { preloadViews } from "./lazy.svelte";
import { startupMark, startupMarks } from "./startup";
import { emptyForm, type KeyForm } from "./validation";

export type View = "keys" | "usage" | "alerts" | "audit" | "account" | "services" | "rotate";
/** How the Services screen's "Connect to a service" connects. */
export type ConnectMode = "key" | "code";
/** The Account screen's tabs. */
export type AccountTab = "overview" | "policies";

/** The rotation wizard's keys (old keys, in order) and the one shown. */
export type Rotation = { queue: string[]; index: number };
export type Health = "ok" | "unreachable" | "unauthorized";

/** Commands that talk to the key service (their outcome says if it is healthy). */
const SERVICE_CALLS = new Set([
  "get_account",
  "update_account",
  "preview_alerts",
  "notify_prefs",
  "set_notify_prefs",
  "list_keys",
  "get_key",
  "create_key",
  "update_key",
  "revoke_key",
  "quarantine_key",
  "release_key",
  "key_suggestions",
  "replay_restriction",
  "propose_restriction",
  "enforce_proposal",
  "drop_proposal",
  "scan_folder",
  "audit_log",
  "list_alerts",
  "ack_alert",
  "list_webhooks",
  "create_webhook",
  "update_webhook",
  "delete_webhook",
  "test_webhook",
  "webhook_deliveries",
  "retry_delivery",
  "key_usage",
  "account_usage",
  "rotate_key",
  "check_replacement",
  "rotate_compromised",
  "rotate_admin_credential",
]);

type Paged<T> = {
  items: T[];
  cursor: string | null;
  loaded: boolean;
  loading: boolean;
  loadingMore: boolean;
  error: PortalError | null;
};

/** Set once the first key list has been reported painted. */
let startupReported = false;

/**
 * Benchmark probe (bench/portal.sh): once the first key list is in the DOM
 * and painted, tell Rust. The command does nothing unless the app was
 * started with KEYPORT_STARTUP_PROBE=1.
 */
function reportStartup() {
  if (startupReported) return;
  startupReported = true;
  const frame = (f: () => void) =>
    typeof requestAnimationFrame === "function" ? requestAnimationFrame(f) : setTimeout(f, 0);
  startupMark("keys");
  void tick().then(() => {
    startupMark("dom");
    // Style and layout now, so the marks tell them apart from painting.
    void document.body.getBoundingClientRect();
    startupMark("layout");
    // The second frame callback runs after the frame with the list was produced.
    frame(() => {
      startupMark("frame");
      frame(() => {
        startupMark("painted");
        // What follows the first frame (the other screens' chunks, the
        // alerts) waits for this report: their requests would otherwise
        // queue ahead of it in the app's main thread and delay it.
        const after = () => {
          void preloadViews();
          app.startAlerts();
        };
        api.startupReady(startupMarks(), performance.now()).then(after, after);
      });
    });
  });
}

/** How long start-up shows nothing before it shows "Starting Keyport…". */
const SPLASH_AFTER_MS = 250;
/** How long start-up waits for the first key page before drawing the shell without it. */
const FIRST_LIST_WAIT_MS = 400;

/** How often the open alerts are refreshed. */
const ALERTS_EVERY_MS = 60_000;

/** Where an alert was in a list (unknown ones first: they are new). */
function rank(order: string[], a: Alert): number {
  return order.indexOf(a.id);
}

/** "Traffic spike on “Billing worker”" for toasts; an endpoint's alert names its URL. */
function ackSubject(a: Alert, keyName: string | undefined): string {
  const what = kindLabel(a.kind);
  if (isEndpointAlert(a)) {
    const url = a.evidence?.url;
    return typeof url === "string" && url !== "" ? `${what} on ${url}` : what;
  }
  return keyName ? `${what} on “${keyName}”` : what;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function paged<T>(): Paged<T> {
  return { items: [], cursor: null, loaded: false, loading: false, loadingMore: false, error: null };
}

class App {
  // ---- connection ----
  status = $state<PortalStatus | null>(null);
  /** The status and first key page asked for by `begin`, until `start` takes them. */
  private early: {
    status: Promise<PortalStatus>;
    keys: Promise<{ ok: true; page: KeyList } | { ok: false; error: PortalError }>;
  } | null = null;
  /** The first key page, requested at start next to the status (see `start`). */
  private firstKeys: Promise<{ ok: true; page: KeyList } | { ok: false; error: PortalError }> | null = null;
  statusError = $state<PortalError | null>(null);
  booting = $state(true);
  /** Set when start-up takes long enough that a "Starting" screen helps. */
  slowBoot = $state(false);
  /** The key load that the last status change started. */
  private keysLoad: Promise<void> | null = null;
  private slowBootTimer: ReturnType<typeof setTimeout> | undefined;
  health = $state<Health>("ok");
  switching = $state(false);

  // ---- screens ----
  view = $state<View>("keys");
  /** The Account screen's tab. */
  accountTab = $state<AccountTab>("overview");
  /**
   * Asked for by `showWebhooks` (an alert about an endpoint): Account →
   * Webhooks scrolls to the endpoint, opens its delivery log, then clears it.
   */
  webhooksTarget = $state<{ endpointId: string | null } | null>(null);
  /** The key whose chart the Usage screen shows; null for the account overview. */
  usageKeyId = $state<string | null>(null);
  /** Ticks every 15 s so relative times stay fresh. */
  now = $state(Date.now());

  // ---- data ----
  keys = $state<Paged<KeyView>>(paged());
  filter = $state<KeyFilter>({ ...EMPTY_FILTER });
  audit = $state<Paged<AuditView>>(paged());
  plans = $state<PlanRow[] | null>(null);
  plansError = $state<PortalError | null>(null);
  accountLoading = $state(false);
  accountError = $state<PortalError | null>(null);

  // ---- dialogs ----
  createOpen = $state(false);
  /** What was typed in Create key: kept until a key is created. */
  createDraft = $state<KeyForm>(emptyForm());
  once = $state.raw<OnceSecret | null>(null);
  detailsId = $state<string | null>(null);
  revokeTarget = $state<KeyView | null>(null);
  signOutTarget = $state<SavedService | null>(null);
  /** Prefill for the connect form (e.g. reconnecting a service whose key was revoked). */
  connectUrl = $state("");
  /** "Admin key" or "Enrollment code" in Services → Connect to a service. */
  connectMode = $state<ConnectMode>("key");
  /** The enrollment form's fields: kept across Back, prefilled by keyport:// links. */
  enrollUrl = $state("");
  enrollCode = $state("");
  /** The code's preview awaiting "Connect" (null: the form is shown). */
  enrollOffer = $state.raw<EnrollOffer | null>(null);
  enrollError = $state<PortalError | null>(null);
  /** A preview or an enrollment is on its way. */
  enrollBusy = $state(false);
  /** Bumped by each preview, enrollment, Back and link: an older answer is dropped. */
  private enrollSeq = 0;
  /** Set by `start` until the link the app was started with is asked for (it is handed out once). */
  private startLinkDue = false;
  /** Listening for links opened while the app runs (from the first status on). */
  private linkWatch: Promise<() => void> | null = null;
  /** The keys the rotation wizard works through (app.view "rotate"). */
  rotation = $state<Rotation | null>(null);
  /** "Suspected compromise…": the key to revoke and replace at once. */
  compromiseTarget = $state<KeyView | null>(null);
  /** "Quarantine…": the key to set aside (asks for a reason). */
  quarantineTarget = $state<KeyView | null>(null);
  /** What the quarantine dialog's reason starts as (from an alert), or empty. */
  quarantineSeed = $state("");
  /** "Tighten this key…": the key whose suggestions, replay and report-only start are shown. */
  tightenTarget = $state<KeyView | null>(null);
  /** Keys → "Scan a folder…": the last scan's findings, shown until closed. */
  scan = $state.raw<FolderScan | null>(null);
  /** The folder picker is open or the scan is running. */
  scanning = $state(false);
  /** "Rotate several keys…": the picker. */
  rotatePickerOpen = $state(false);
  /** The Account screen's "Rotate admin key…" dialog. */
  adminRotationOpen = $state(false);
  /** Bumped to ask the Keys screen to focus its search field. */
  searchFocus = $state(0);

  account: AccountView | null = $derived(this.status?.account ?? null);
  connected = $derived(this.account !== null);

  // ---- alerts (open ones; loaded after the first key list is painted) ----
  alerts = $state<Alert[]>([]);
  alertsLoaded = $state(false);
  alertsLoading = $state(false);
  alertsError = $state<PortalError | null>(null);
  /** Every alert, open, acknowledged and resolved (the Alerts screen's "All"); null until asked for. */
  allAlerts = $state<Alert[] | null>(null);
  allAlertsLoading = $state(false);
  allAlertsError = $state<PortalError | null>(null);
  /** The key the Alerts screen is narrowed to (from a key row's badge); null for all keys. */
  alertsKeyId = $state<string | null>(null);
  openAlertCount = $derived(this.alerts.reduce((n, a) => n + (a.status === "open" ? 1 : 0), 0));
  /** Key id → number of open alerts. */
  alertsByKey = $derived(openCountByKey(this.alerts));
  private alertsTimer: ReturnType<typeof setInterval> | undefined;
  /** Only the latest request's answer is applied. */
  private alertsSeq = 0;
  private allAlertsSeq = 0;
  /**
   * Acknowledged from here (an acknowledged alert never reopens): an answer
   * that left before the acknowledgement must not show it open again.
   */
  private ackedIds = new Set<string>();

  constructor() {
    onCall(({ command, error }) => {
      if (!SERVICE_CALLS.has(command)) return;
      if (error === null) this.health = "ok";
      else if (error.code === "unreachable") this.health = "unreachable";
      else if (error.code === "unauthorized") this.health = "unauthorized";
    });
  }

  // ---- start and connection ----

  /**
   * Asks for the status and the first key page at once (both wait for the
   * same service start; the list is used only if the status then shows that
   * same connection). main.ts calls it before mounting, so the calls travel
   * while Svelte sets the app up; `start` takes the answers.
   */
  begin() {
    this.early ??= {
      status: api.portalStatus(),
      keys: api.listKeys(null).then(
        (page) => ({ ok: true as const, page }),
        (error: PortalError) => ({ ok: false as const, error }),
      ),
    };
  }

  async start() {
    this.booting = true;
    startupMark("start");
    this.begin();
    this.startLinkDue = true;
    const early = this.early!;
    this.early = null;
    this.firstKeys = early.keys;
    clearTimeout(this.slowBootTimer);
    this.slowBoot = false;
    this.slowBootTimer = setTimeout(() => (this.slowBoot = true), SPLASH_AFTER_MS);
    await this.refreshStatus(early.status);
    // Consumed by the first loadKeys, if the status led to one.
    this.firstKeys = null;
    startupMark("status");
    // After the first calls: keyport://enroll links opened from now on.
    this.linkWatch ??= this.watchEnrollLinks();
    // Draw the shell once, with its key list, rather than a skeleton first
    // that the list replaces a moment later (each full frame is costly in a
    // software-rendered webview). Bounded: a slow service gets the shell
    // and its loading state.
    if (this.keysLoad) await Promise.race([this.keysLoad, delay(FIRST_LIST_WAIT_MS)]);
    clearTimeout(this.slowBootTimer);
    this.booting = false;
    if (this.keys.loaded) reportStartup();
  }

  async refreshStatus(pending?: Promise<PortalStatus>) {
    try {
      this.applyStatus(await (pending ?? api.portalStatus()));
      this.statusError = null;
      void this.takeStartLink();
    } catch (e) {
      this.statusError = e as PortalError;
    }
  }

  /** A new status (start, connect, switch, sign-out): reload what depends on it. */
  applyStatus(s: PortalStatus) {
    const before = this.status;
    const changed =
      before === null ||
      before.service_url !== s.service_url ||
      before.account?.id !== s.account?.id;
    this.status = s;
    if (!changed) return;
    this.health = "ok";
    this.keys = paged();
    this.audit = paged();
    this.filter = { ...EMPTY_FILTER };
    this.detailsId = null;
    // Another account's findings and keys.
    this.scan = null;
    this.quarantineTarget = null;
    this.tightenTarget = null;
    // Another service's keys: its rotations are its own.
    this.rotation = null;
    if (this.view === "rotate") this.view = "keys";
    this.resetAlerts();
    if (s.account === null) {
      this.view = "services";
      return;
    }
    if (this.view === "services" && before !== null) this.view = "keys";
    this.keysLoad = this.loadKeys();
    // After start-up, a new connection's alerts follow its key list.
    if (this.alertsTimer !== undefined) void this.keysLoad.then(() => this.loadAlerts());
  }

  async connect(url: string, adminKey: string): Promise<PortalError | null> {
    try {
      const s = await api.connectRemote(url, adminKey);
      this.applyStatus(s);
      this.view = "keys";
      this.connectUrl = "";
      toasts.success(`Connected to ${s.account?.name ?? url}.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  async useService(url: string | null) {
    this.switching = true;
    try {
      const s = await api.useService(url);
      this.applyStatus(s);
      this.view = "keys";
      toasts.success(url === null ? "Using the embedded service." : `Switched to ${url}.`);
    } catch (e) {
      toasts.error(errorLine(e as PortalError));
    } finally {
      this.switching = false;
    }
  }

  async signOut(url: string): Promise<PortalError | null> {
    try {
      this.applyStatus(await api.signOut(url));
      toasts.success(`Signed out of ${url}. Its admin key was removed from the keychain.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  /** The credential was rejected: go to the connect form for this service. */
  reconnect() {
    const s = this.status;
    this.closeDialogs();
    this.connectUrl = s?.mode === "remote" ? s.service_url : "";
    this.connectMode = "key";
    this.view = "services";
  }

  // ---- enrollment codes and keyport:// links ----

  /**
   * Looks a code (or a pasted keyport:// link) up without using it; the
   * confirmation then shows the offer. Rust does the rest (see api.enroll).
   */
  previewEnrollment(serviceUrl: string, code: string): Promise<PortalError | null> {
    return this.enrollStep(async (seq) => {
      const offer = await api.enrollmentPreview(serviceUrl, code);
      if (seq === this.enrollSeq) this.enrollOffer = offer;
    });
  }

  /** Uses the confirmed code: connected to that service, like `connect` with a key. */
  enroll(serviceUrl: string, code: string, revokeOthers: boolean): Promise<PortalError | null> {
    const name = this.enrollOffer?.preview.account_name ?? serviceUrl;
    return this.enrollStep(async (seq) => this.enrolled(await api.enroll(serviceUrl, code, revokeOthers), name, seq));
  }

  /** Runs a preview or an enroll: busy, and its error shown, unless a newer one (or "Back") came since. */
  private async enrollStep(run: (seq: number) => Promise<void>): Promise<PortalError | null> {
    const seq = ++this.enrollSeq;
    this.enrollBusy = true;
    this.enrollError = null;
    try {
      await run(seq);
      return null;
    } catch (e) {
      if (seq === this.enrollSeq) this.enrollError = e as PortalError;
      return e as PortalError;
    } finally {
      if (seq === this.enrollSeq) this.enrollBusy = false;
    }
  }

  /** The status after enrolling: as after `connect`, unless a link opened meanwhile shows its confirmation. */
  private enrolled(s: PortalStatus, name: string, seq: number) {
    const before = this.status;
    this.applyStatus(s);
    // Enrolled into the account already shown: its admin keys changed.
    if (before?.service_url === s.service_url && before.account?.id === s.account?.id) void this.loadKeys();
    toasts.success(`Connected to ${s.account?.name ?? name}.`);
    if (seq !== this.enrollSeq) return;
    this.view = "keys";
    this.connectUrl = "";
    this.clearEnrollment();
  }

  /** "Back": the form again, with what was typed; a preview on its way is dropped. */
  backToEnrollForm() {
    this.enrollSeq += 1;
    this.enrollOffer = null;
    this.enrollError = null;
    this.enrollBusy = false;
  }

  private clearEnrollment() {
    this.enrollUrl = "";
    this.enrollCode = "";
    this.enrollOffer = null;
    this.enrollError = null;
  }

  /** A keyport://enroll link: its confirmation on the Services screen (never enrolls by itself). */
  openEnrollLink(link: EnrollLink) {
    this.closeDialogs();
    this.view = "services";
    this.connectMode = "code";
    this.enrollUrl = link.service_url;
    this.enrollCode = link.code;
    this.enrollOffer = null;
    void this.previewEnrollment(link.service_url, link.code);
  }

  /** Links opened while the app runs (Tauri only); resolves to the function that stops listening. */
  private watchEnrollLinks(): Promise<() => void> {
    return onEnrollLink((link) => this.openEnrollLink(link));
  }

  /**
   * The link the app was started with, once a status can show it. Not while
   * only the keychain problem can be shown: enrolling needs the keychain, and
   * the link stays in Rust until then.
   */
  private async takeStartLink() {
    const s = this.status;
    if (!this.startLinkDue || !s || (!s.keychain.available && !s.account)) return;
    this.startLinkDue = false;
    try {
      const link = await api.takeEnrollLink();
      if (link) this.openEnrollLink(link);
    } catch {
      // Nothing to open.
    }
  }

  // ---- keys ----

  async loadKeys() {
    this.keys.loading = true;
    this.keys.error = null;
    const early = this.firstKeys;
    this.firstKeys = null;
    try {
      const reply = early ? await early : null;
      const page = reply?.ok ? reply.page : await api.listKeys(null);
      this.now = Date.now();
      this.keys.items = page.keys;
      this.keys.cursor = page.next_cursor;
      this.keys.loaded = true;
      if (!this.booting) reportStartup();
    } catch (e) {
      this.keys.error = e as PortalError;
    } finally {
      this.keys.loading = false;
    }
  }

  async loadMoreKeys() {
    if (this.keys.cursor === null || this.keys.loadingMore) return;
    this.keys.loadingMore = true;
    try {
      const page = await api.listKeys(this.keys.cursor);
      this.keys.items = appendPage(this.keys.items, page.keys);
      this.keys.cursor = page.next_cursor;
    } catch (e) {
      toasts.error(errorLine(e as PortalError));
    } finally {
      this.keys.loadingMore = false;
    }
  }

  keyById(id: string): KeyView | undefined {
    return this.keys.items.find((k) => k.id === id);
  }

  storeKey(key: KeyView) {
    this.now = Date.now();
    this.keys.items = upsertKey(this.keys.items, key);
  }

  /** Create: on success the show-once dialog takes over and the draft is cleared. */
  async createKey(input: Parameters<typeof api.createKey>[0]): Promise<PortalError | null> {
    try {
      const once = await api.createKey(input);
      this.storeKey(once.key);
      this.createOpen = false;
      this.createDraft = emptyForm();
      this.once = once;
      void this.refreshAccount();
      return null;
    } catch (e) {
      const err = e as PortalError;
      // The count the screens show was behind: take the service's.
      if (err.code === "limit_exceeded") void this.refreshAccount();
      return err;
    }
  }

  /** "I have stored it": drop the only copy of the raw key the webview has. */
  closeOnce() {
    const once = this.once;
    if (once) {
      toasts.success(`Key “${once.key.name}” created.`);
      once.secret = "";
    }
    this.once = null;
  }

  async updateKey(id: string, patch: Parameters<typeof api.updateKey>[1]): Promise<PortalError | null> {
    try {
      const key = await api.updateKey(id, patch);
      this.storeKey(key);
      toasts.success(`Saved “${key.name}”.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  async revokeKey(key: KeyView): Promise<PortalError | null> {
    try {
      const revoked = await api.revokeKey(key.id);
      this.storeKey(revoked);
      this.revokeTarget = null;
      void this.refreshAccount();
      toasts.success(`Revoked “${revoked.name}” (${maskKey(revoked)}). It stops working now.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  /** Quarantine: read-only and at most 10 requests a minute until released, rotated or revoked. */
  async quarantineKey(key: KeyView, reason: string): Promise<PortalError | null> {
    try {
      const k = await api.quarantineKey(key.id, reason);
      this.storeKey(k);
      this.quarantineTarget = null;
      toasts.success(`Quarantined “${k.name}” (${maskKey(k)}): it may only read, 10 requests a minute.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  /** Ends a key's quarantine: it works as before from the next request. */
  async releaseKey(key: KeyView): Promise<PortalError | null> {
    try {
      const k = await api.releaseKey(key.id);
      this.storeKey(k);
      toasts.success(`Released “${k.name}” from quarantine: it works as before.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  /**
   * Report-only mode: from the next request, what `restriction` would refuse
   * is served and counted as "would deny" for `days`. Closes "Tighten this
   * key…"; the drawer then shows the proposal.
   */
  async proposeRestriction(key: KeyView, restriction: Restriction, days: number): Promise<PortalError | null> {
    try {
      const k = await api.proposeRestriction(key.id, restriction, days);
      this.storeKey(k);
      this.tightenTarget = null;
      const until = k.proposal ? ` until ${formatDate(k.proposal.ends_at)}` : "";
      toasts.success(`Report-only for “${k.name}”${until}: what it would refuse is counted, not refused.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  /** The proposal's rules become the key's, from the next request. */
  async enforceProposal(key: KeyView): Promise<PortalError | null> {
    try {
      const k = await api.enforceProposal(key.id);
      this.storeKey(k);
      toasts.success(`Enforced on “${k.name}”: from now on it refuses what the proposal counted.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  /** The proposal ends; nothing about the key changes. */
  async dropProposal(key: KeyView): Promise<PortalError | null> {
    try {
      const k = await api.dropProposal(key.id);
      this.storeKey(k);
      toasts.success(`Dropped the report-only restriction of “${k.name}”: the key is unchanged.`);
      return null;
    } catch (e) {
      return e as PortalError;
    }
  }

  /**
   * A key known (or suspected) to be exposed: the compromise rotation (revoke
   * now, replacement shown once); the portal's own admin key has its own
   * rotation on the Account screen. Fetches the key when it is not loaded.
   */
  async startCompromise(id: string) {
    let key = this.keyById(id);
    if (!key) {
      try {
        key = await api.getKey(id);
        this.storeKey(key);
      } catch (e) {
        toasts.error(errorLine(e as PortalError));
        return;
      }
    }
    if (key.status !== "active") {
      toasts.error(`“${key.name}” is already ${key.status}: it no longer works, so there is nothing to rotate.`);
      return;
    }
    if (isPortalCredential(key, this.account)) {
      this.scan = null;
      this.startAdminRotation();
    } else {
      this.compromiseTarget = key;
    }
  }

  /**
   * Keys → "Scan a folder…": the native folder picker, then the findings
   * (nothing happens when the picker is cancelled).
   */
  async scanFolder() {
    if (this.scanning || !this.connected) return;
    this.scanning = true;
    try {
      const result = await api.scanFolder();
      if (result) {
        this.scan = result;
        // Findings name keys: show their current state.
        if (result.findings.some((f) => f.key_id !== null && !this.keyById(f.key_id))) void this.loadKeys();
      }
    } catch (e) {
      toasts.error(`The folder could not be scanned. ${errorLine(e as PortalError)}`);
    } finally {
      this.scanning = false;
    }
  }

  /** Opens a key's details, fetching it when it is not among the loaded pages. */
  async openKey(id: string) {
    if (!this.keyById(id)) {
      try {
        this.storeKey(await api.getKey(id));
      } catch (e) {
        toasts.error(errorLine(e as PortalError));
        return;
      }
    } else {
      // The listed copy may be old (last used, a change made elsewhere):
      // show it at once, then the service's current one.
      void api.getKey(id).then(
        (k) => this.storeKey(k),
        () => {},
      );
    }
    this.detailsId = id;
  }

  // ---- alerts ----

  /** Forgets the previous connection's alerts; answers still on their way are dropped. */
  private resetAlerts() {
    this.alertsSeq += 1;
    this.allAlertsSeq += 1;
    this.alerts = [];
    this.alertsLoaded = false;
    this.alertsLoading = false;
    this.alertsError = null;
    this.allAlerts = null;
    this.allAlertsLoading = false;
    this.allAlertsError = null;
    this.alertsKeyId = null;
    this.ackedIds.clear();
  }

  /** Loads the open alerts now and every 60 s (called once the first key list is painted). */
  startAlerts() {
    if (this.alertsTimer !== undefined) return;
    this.alertsTimer = setInterval(() => void this.loadAlerts(), ALERTS_EVERY_MS);
    void this.loadAlerts();
  }

  /** Refreshes the open alerts (and the full list, once it was asked for). */
  async loadAlerts() {
    if (!this.connected) return;
    const seq = ++this.alertsSeq;
    this.alertsLoading = true;
    try {
      const list = await api.listAlerts(false);
      if (seq !== this.alertsSeq) return;
      this.alerts = this.withAcks(list.alerts).filter((a) => a.status === "open");
      this.syncLeakedKeys(this.alerts);
      this.alertsLoaded = true;
      this.alertsError = null;
    } catch (e) {
      if (seq === this.alertsSeq) this.alertsError = e as PortalError;
    } finally {
      if (seq === this.alertsSeq) this.alertsLoading = false;
    }
    if (seq === this.alertsSeq && this.allAlerts !== null) void this.loadAllAlerts();
  }

  /** Leak alerts already followed by a fresh read of their key. */
  private leakSynced = new Set<string>();

  /**
   * A leak report quarantines or revokes its key on the service, after the
   * key list was read: read each such key again (once per alert), so its
   * row and drawer show what the service did.
   */
  private syncLeakedKeys(alerts: Alert[]) {
    for (const a of alerts) {
      if (a.kind !== "leak_reported" || this.leakSynced.has(a.id)) continue;
      this.leakSynced.add(a.id);
      if (!this.keyById(a.key_id)) continue;
      void api
        .getKey(a.key_id)
        .then((fresh) => this.storeKey(fresh))
        .catch(() => this.leakSynced.delete(a.id));
    }
  }

  /** Every alert, newest first (the Alerts screen's "All"). */
  async loadAllAlerts() {
    if (!this.connected) return;
    const seq = ++this.allAlertsSeq;
    this.allAlertsLoading = true;
    try {
      const list = await api.listAlerts(true);
      if (seq !== this.allAlertsSeq) return;
      this.allAlerts = this.withAcks(list.alerts);
      this.allAlertsError = null;
    } catch (e) {
      if (seq === this.allAlertsSeq) this.allAlertsError = e as PortalError;
    } finally {
      if (seq === this.allAlertsSeq) this.allAlertsLoading = false;
    }
  }

  private withAcks(alerts: Alert[]): Alert[] {
    if (this.ackedIds.size === 0) return alerts;
    return alerts.map((a) =>
      this.ackedIds.has(a.id) && a.status === "open" ? { ...a, status: "acknowledged" as const } : a,
    );
  }

  /** Acknowledges at once on screen; puts it back and says why if the service refuses. */
  async ackAlert(id: string): Promise<boolean> {
    const before = this.alerts.find((a) => a.id === id) ?? this.allAlerts?.find((a) => a.id === id);
    if (!before || before.status !== "open" || this.ackedIds.has(id)) return false;
    const order = this.alerts.map((a) => a.id);
    const put = (a: Alert) => {
      const rest = this.alerts.filter((x) => x.id !== id);
      this.alerts = a.status === "open" ? [...rest, a].sort((x, y) => rank(order, x) - rank(order, y)) : rest;
      if (this.allAlerts) this.allAlerts = this.allAlerts.map((x) => (x.id === id ? a : x));
    };
    this.ackedIds.add(id);
    put({ ...before, status: "acknowledged", acknowledged_at: new Date().toISOString() });
    try {
      put(await api.ackAlert(id));
      const keyName = isEndpointAlert(before) ? undefined : this.keyById(before.key_id)?.name;
      toasts.success(`Acknowledged: ${ackSubject(before, keyName)}.`);
      void this.loadAlerts();
      return true;
    } catch (e) {
      this.ackedIds.delete(id);
      // Back where it was.
      put(before);
      toasts.error(`Could not acknowledge the alert. ${errorLine(e as PortalError)}`);
      return false;
    }
  }

  /** The Alerts screen, for one key or (null) all of them. */
  showAlerts(keyId: string | null = null) {
    this.alertsKeyId = keyId;
    this.detailsId = null;
    this.view = "alerts";
  }

  // ---- audit, account ----

  async loadAudit() {
    this.audit.loading = true;
    this.audit.error = null;
    try {
      const page = await api.auditLog(null);
      this.audit.items = page.events;
      this.audit.cursor = page.next_cursor;
      this.audit.loaded = true;
    } catch (e) {
      this.audit.error = e as PortalError;
    } finally {
      this.audit.loading = false;
    }
  }

  async loadMoreAudit() {
    if (this.audit.cursor === null || this.audit.loadingMore) return;
    this.audit.loadingMore = true;
    try {
      const page = await api.auditLog(this.audit.cursor);
      const seen = new Set(this.audit.items.map((e) => String(e.id)));
      this.audit.items = [...this.audit.items, ...page.events.filter((e) => !seen.has(String(e.id)))];
      this.audit.cursor = page.next_cursor;
    } catch (e) {
      toasts.error(errorLine(e as PortalError));
    } finally {
      this.audit.loadingMore = false;
    }
  }

  /**
   * Re-reads the account after a change to its keys, for the key count
   * (Account screen, Create key). Quiet: a failure shows where it matters.
   */
  async refreshAccount() {
    try {
      const account = await api.getAccount();
      if (this.status && this.status.account?.id === account.id) this.status = { ...this.status, account };
    } catch {
      // The next screen that needs the account says what is wrong.
    }
  }

  /** An account the service just answered with (e.g. after saving its policies). */
  applyAccount(account: AccountView) {
    if (this.status && this.status.account?.id === account.id) this.status = { ...this.status, account };
  }

  async loadAccount() {
    this.accountLoading = true;
    this.accountError = null;
    this.plansError = null;
    const [account, plans] = await Promise.allSettled([api.getAccount(), api.planTable()]);
    if (account.status === "fulfilled") {
      if (this.status) this.status = { ...this.status, account: account.value };
    } else {
      this.accountError = account.reason as PortalError;
    }
    if (plans.status === "fulfilled") this.plans = plans.value;
    else this.plansError = plans.reason as PortalError;
    this.accountLoading = false;
  }

  // ---- navigation ----

  go(view: View) {
    this.view = view;
  }

  /** Account → Webhooks, at one endpoint (an alert's `key_id` for endpoint alerts) or at the section. */
  showWebhooks(endpointId: string | null = null) {
    this.detailsId = null;
    this.accountTab = "overview";
    this.webhooksTarget = { endpointId };
    this.view = "account";
  }

  /** The Usage screen, on one key's chart. */
  showUsage(keyId: string) {
    this.usageKeyId = keyId;
    this.detailsId = null;
    this.view = "usage";
  }

  anyDialogOpen(): boolean {
    return (
      this.createOpen ||
      this.once !== null ||
      this.detailsId !== null ||
      this.revokeTarget !== null ||
      this.signOutTarget !== null ||
      this.compromiseTarget !== null ||
      this.quarantineTarget !== null ||
      this.tightenTarget !== null ||
      this.scan !== null ||
      this.rotatePickerOpen ||
      this.adminRotationOpen
    );
  }

  closeDialogs() {
    // Never the show-once dialog: only "I have stored it" closes it.
    this.createOpen = false;
    this.detailsId = null;
    this.revokeTarget = null;
    this.signOutTarget = null;
    this.compromiseTarget = null;
    this.quarantineTarget = null;
    this.tightenTarget = null;
    this.scan = null;
    this.rotatePickerOpen = false;
    this.adminRotationOpen = false;
  }

  openCreate(seed?: KeyForm) {
    if (!this.connected || this.once !== null) return;
    if (seed) this.createDraft = seed;
    this.view = "keys";
    this.detailsId = null;
    this.createOpen = true;
  }

  /** The rotation wizard for these keys (a replacement opens its old key's rotation). */
  startRotation(ids: string[]) {
    if (!this.connected || ids.length === 0) return;
    this.rotation = { queue: [...new Set(ids)], index: 0 };
    this.detailsId = null;
    this.rotatePickerOpen = false;
    this.view = "rotate";
  }

  /** The portal's own admin key is rotated from the Account screen. */
  startAdminRotation() {
    this.detailsId = null;
    this.view = "account";
    this.adminRotationOpen = true;
  }

  focusSearch() {
    this.view = "keys";
    this.searchFocus += 1;
  }
}

export const app = new App();
