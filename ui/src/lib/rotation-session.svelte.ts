// The rotation wizard's state and actions for the key app.rotation shows:
// the evidence (both keys, their last hour, the portal's checks), each step's
// pending action and error, and the polls while a step watches the keys.
// One per mounted wizard: `start` begins the polls and returns their cleanup.
import { api } from "./api";
import { app } from "./app.svelte";
import { isPortalCredential } from "./credential";
import { exactUtc, maskKey, relativeTime } from "./format";
import {
  agoText,
  applyPoll,
  compareChart,
  compareChartLabel,
  isLive,
  mayRevoke,
  needsInfo,
  queuedStatus,
} from "./rotation-view";
import { toasts } from "./toasts.svelte";
import type { KeyView, PortalError, ReplacementCheck, UsagePoint } from "./types";
import type { ChartInput } from "./usage-plot";
import { DEFAULT_DRAIN_MS, GRACE_CHOICES, rotationTarget, wizardState, type WizardStep } from "./wizard";
import { confirmed } from "./wizard-session";

/** The live panel's refresh period. */
export const POLL_MS = 3_000;
/** The countdown's clock. */
const TICK_MS = 1_000;

export class RotationSession {
  queueId = $derived(app.rotation ? (app.rotation.queue[app.rotation.index] ?? null) : null);
  queue = $derived(app.rotation?.queue ?? []);
  index = $derived(app.rotation?.index ?? 0);
  hasNext = $derived(this.index < this.queue.length - 1);

  /** The old key of the rotation shown (a replacement opens its old key's rotation). */
  oldId = $state<string | null>(null);
  loading = $state(true);
  loadError = $state<PortalError | null>(null);
  /** Bumped per opened key: answers for a key no longer shown are dropped. */
  #seq = 0;
  #polling = false;

  old = $derived(this.oldId ? app.keyById(this.oldId) : undefined);
  repl = $derived(this.old?.replaced_by ? app.keyById(this.old.replaced_by) : undefined);

  oldPoints = $state.raw<UsagePoint[]>([]);
  newPoints = $state.raw<UsagePoint[]>([]);
  /** The replacement `newPoints` and `portalChecks` belong to. */
  newFor = $state<string | null>(null);
  portalChecks = $state(0);
  generatedHere = $state<boolean | null>(null);
  updatedAt = $state(0);
  pollError = $state<PortalError | null>(null);
  hidden = $state(typeof document !== "undefined" && document.hidden);

  drainMs = $state(DEFAULT_DRAIN_MS);
  graceMs = $state(GRACE_CHOICES[1]!.ms);
  now = $state(Date.now());

  // Step 1
  creating = $state(false);
  createError = $state<PortalError | null>(null);
  // Step 3: the pasted key lives only here (bound to the input), until the check returns.
  pasted = $state("");
  checking = $state(false);
  check = $state<ReplacementCheck | null>(null);
  checkError = $state<PortalError | null>(null);
  // Step 4
  revoking = $state(false);
  revokeError = $state<PortalError | null>(null);
  anywayOpen = $state(false);
  anywayUnderstood = $state(false);
  scheduling = $state(false);
  scheduleError = $state<PortalError | null>(null);

  own = $derived(this.old ? isPortalCredential(this.old, app.account) : false);
  confirmation = $derived(this.repl ? confirmed.get(this.repl.id) : undefined);
  /** The evidence about the new key is about this replacement. */
  mine = $derived(this.repl !== undefined && this.newFor === this.repl.id);
  st = $derived(
    this.old
      ? wizardState({
          old: this.old,
          replacement: this.repl ?? null,
          oldPoints: this.oldPoints,
          newPoints: this.mine ? this.newPoints : [],
          portalChecks: this.mine ? this.portalChecks : 0,
          verified: this.confirmation !== undefined,
          drainMs: this.drainMs,
          now: this.now,
        })
      : null,
  );
  step = $derived<WizardStep | null>(this.st?.step ?? null);
  firstSeen = $derived(this.st?.newFirstSeen ?? null);
  oldLastUsed = $derived(this.st?.oldLastUsed ?? null);
  live = $derived(isLive(this.step));

  oldLabel = $derived(this.old ? `Old key ${maskKey(this.old)}` : "Old key");
  newLabel = $derived(this.repl ? `New key ${maskKey(this.repl)}` : "New key");

  chart = $derived.by((): ChartInput | null => {
    if (!this.repl || this.oldPoints.length === 0) return null;
    const lines = {
      oldLabel: this.oldLabel,
      oldPoints: this.oldPoints,
      newLabel: this.newLabel,
      newPoints: this.mine ? this.newPoints : [],
    };
    return compareChart(lines, this.firstSeen);
  });
  chartLabel = $derived(compareChartLabel(this.chart, this.firstSeen));

  /** Polls every 3 s and ticks the clock every second while the window is visible. */
  start(): () => void {
    const poll = setInterval(() => {
      if (!document.hidden) void this.refresh();
    }, POLL_MS);
    const clock = setInterval(() => {
      if (!document.hidden) this.now = Date.now();
    }, TICK_MS);
    const onVisible = () => {
      this.hidden = document.hidden;
      if (!document.hidden) {
        this.now = Date.now();
        void this.refresh();
      }
    };
    document.addEventListener("visibilitychange", onVisible);
    return () => {
      clearInterval(poll);
      clearInterval(clock);
      document.removeEventListener("visibilitychange", onVisible);
      this.pasted = "";
    };
  }

  async #fetchKey(id: string): Promise<KeyView> {
    const k = await api.getKey(id);
    app.storeKey(k);
    return k;
  }

  /** Shows the rotation of `id` (null: none), forgetting the previous key's evidence. */
  async open(id: string | null) {
    const mySeq = ++this.#seq;
    this.oldId = null;
    this.loadError = null;
    this.oldPoints = [];
    this.newPoints = [];
    this.newFor = null;
    this.portalChecks = 0;
    this.generatedHere = null;
    this.pollError = null;
    this.createError = null;
    this.check = null;
    this.checkError = null;
    this.pasted = "";
    this.revokeError = null;
    this.scheduleError = null;
    this.anywayOpen = false;
    if (id === null) {
      this.loading = false;
      return;
    }
    this.loading = true;
    try {
      const k = await this.#fetchKey(id);
      let target = k.id;
      if (k.replaces !== null) {
        const o = await this.#fetchKey(k.replaces).catch(() => undefined);
        target = rotationTarget(k, (x) => (o && x === o.id ? o : undefined), Date.now());
      }
      if (mySeq !== this.#seq) return;
      this.oldId = target;
      await this.refresh(true);
    } catch (e) {
      if (mySeq === this.#seq) this.loadError = e as PortalError;
    } finally {
      if (mySeq === this.#seq) this.loading = false;
    }
  }

  /** Both keys, their last hour per minute, and the portal's checks. `first` throws instead of showing the error. */
  async refresh(first = false) {
    const id = this.oldId;
    if (id === null || (this.#polling && !first)) return;
    if (!first && !this.live) return;
    const mySeq = this.#seq;
    this.#polling = true;
    try {
      const o = await api.getKey(id);
      if (mySeq !== this.#seq) return;
      app.storeKey(o);
      const rid = o.replaced_by;
      const ev = { newFor: this.newFor, generatedHere: this.generatedHere };
      const [r, ou, nu, info] = await Promise.all([
        rid ? api.getKey(rid).catch((e: PortalError) => (e.code === "not_found" ? null : Promise.reject(e))) : null,
        api.keyUsage(o.id, "1h", "minute"),
        rid ? api.keyUsage(rid, "1h", "minute").catch(() => null) : null,
        rid && needsInfo(rid, ev) ? api.replacementInfo(rid).catch(() => null) : null,
      ]);
      if (mySeq !== this.#seq) return;
      if (r) app.storeKey(r);
      const next = applyPoll(
        {
          oldPoints: this.oldPoints,
          newPoints: this.newPoints,
          newFor: this.newFor,
          portalChecks: this.portalChecks,
          generatedHere: this.generatedHere,
        },
        { rid, oldPoints: ou.points, newPoints: nu?.points ?? null, info },
      );
      this.oldPoints = next.oldPoints;
      this.newPoints = next.newPoints;
      this.newFor = next.newFor;
      this.portalChecks = next.portalChecks;
      this.generatedHere = next.generatedHere;
      this.now = Date.now();
      this.updatedAt = this.now;
      this.pollError = null;
    } catch (e) {
      if (mySeq !== this.#seq) return;
      if (first) throw e;
      this.pollError = e as PortalError;
    } finally {
      this.#polling = false;
    }
  }

  // ---- step 1 ----

  async create() {
    const from = this.old;
    if (!from || this.creating) return;
    this.creating = true;
    this.createError = null;
    try {
      const once = await api.rotateKey(from.id);
      app.storeKey(once.key);
      // The service links them; show it now rather than at the next refresh.
      app.storeKey({ ...from, replaced_by: once.key.id, rotation_due_at: null });
      this.newFor = once.key.id;
      this.newPoints = [];
      this.portalChecks = 0;
      this.generatedHere = true;
      // The show-once dialog takes over; closing it shows step 2.
      app.once = once;
    } catch (e) {
      this.createError = e as PortalError;
      void this.refresh(true).catch(() => undefined);
    } finally {
      this.creating = false;
    }
  }

  // ---- step 3 ----

  /** Checks the pasted key against the replacement, then forgets it whatever the answer. */
  async runCheck() {
    const repl = this.repl;
    const secret = this.pasted.trim();
    if (!repl || this.checking || secret === "") return;
    const id = repl.id;
    this.checking = true;
    this.check = null;
    this.checkError = null;
    try {
      const r = await api.checkReplacement(id, secret);
      this.check = r;
      if (this.newFor === id) this.portalChecks = Math.max(this.portalChecks, r.portal_checks);
      if (r.matches && r.accepted) confirmed.set(id, { how: "checked", by: r.checked_by });
    } catch (err) {
      this.checkError = err as PortalError;
    } finally {
      this.pasted = "";
      this.checking = false;
    }
  }

  skip() {
    if (this.repl && this.st?.canSkip) confirmed.set(this.repl.id, { how: "skipped" });
  }

  // ---- step 4 ----

  async revoke() {
    const old = this.old;
    if (!old || this.revoking) return;
    // Only when safe, or explicitly confirmed.
    const canRevoke = this.st?.canRevoke ?? false;
    if (!mayRevoke({ anywayOpen: this.anywayOpen, anywayUnderstood: this.anywayUnderstood, canRevoke })) return;
    this.revoking = true;
    this.revokeError = null;
    const err = await app.revokeKey(old);
    this.revoking = false;
    if (err) this.revokeError = err;
    else this.anywayOpen = false;
  }

  openAnyway() {
    this.anywayUnderstood = false;
    this.revokeError = null;
    this.anywayOpen = true;
  }

  /** Closes "Revoke anyway…" unless the revoke is under way. */
  closeAnyway() {
    if (!this.revoking) this.anywayOpen = false;
  }

  /** Lets the old key expire by itself after the grace period. */
  async schedule() {
    const old = this.old;
    if (!old || this.scheduling) return;
    this.scheduling = true;
    this.scheduleError = null;
    const at = new Date(Date.now() + this.graceMs).toISOString();
    try {
      const k = await api.updateKey(old.id, { expires_at: at });
      app.storeKey(k);
      toasts.success(`“${k.name}” stops working ${relativeTime(at, Date.now())} (${exactUtc(at)}).`);
    } catch (e) {
      this.scheduleError = e as PortalError;
    } finally {
      this.scheduling = false;
    }
  }

  // ---- queue ----

  go(i: number) {
    if (app.rotation && i >= 0 && i < app.rotation.queue.length) app.rotation = { ...app.rotation, index: i };
  }

  backToKeys() {
    app.rotation = null;
    app.go("keys");
  }

  statusOf(id: string) {
    return queuedStatus(id, (x) => app.keyById(x), app.now);
  }

  /** How long ago, against the wizard's clock. */
  ago(ms: number | null): string {
    return agoText(ms, this.now);
  }
}
