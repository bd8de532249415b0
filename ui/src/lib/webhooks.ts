// Account → Webhooks, the pure part: the event types in words, the endpoint
// form (draft, checks, what to send), the delivery log's wording and when it
// refreshes, and what to say about the service's errors here.
import { adviseError, type ErrorAdvice } from "./errors";
import { relativeTime } from "./format";
import type {
  CreateWebhookRequest,
  DeliveryStatus,
  EventType,
  PortalError,
  UpdateWebhookRequest,
  WebhookDelivery,
  WebhookEndpoint,
} from "./types";

export type EventInfo = { label: string; description: string };

/** Every event type in words (keyport_core::webhook::EventType). */
export const EVENT_INFO: Readonly<Record<EventType, EventInfo>> = {
  "key.created": { label: "Key created", description: "A new key was created, here or through the API." },
  "key.rotated": { label: "Key rotated", description: "A key got its replacement; the old key keeps working until revoked." },
  "key.revoked": { label: "Key revoked", description: "A key was revoked and stops working." },
  "key.expiring": { label: "Key expiring", description: "A key expires within days: time to create its replacement." },
  "key.rotation_due": { label: "Rotation due", description: "A key is due, or overdue, for rotation under the account's policy." },
  "key.quarantined": { label: "Key quarantined", description: "A key was set aside as possibly compromised." },
  "alert.raised": { label: "Alert raised", description: "Unusual traffic on a key: a spike, errors, a new country or endpoint, after-hours use." },
  "quota.threshold": { label: "Quota threshold", description: "A key or the account used 80 % or all of its daily requests." },
  "leak.reported": { label: "Leak reported", description: "A key was reported as leaked, e.g. found in a public repository." },
  "webhook.test": { label: "Test event", description: "Sent by “Send test event” only." },
};

/** The types an endpoint can subscribe to, in the service's order (everything but webhook.test). */
export const SUBSCRIBABLE: readonly EventType[] = (Object.keys(EVENT_INFO) as EventType[]).filter(
  (t) => t !== "webhook.test",
);

/** "Key created"; an unknown type (a newer service's) as it is. */
export function eventLabel(type: string): string {
  return Object.hasOwn(EVENT_INFO, type) ? EVENT_INFO[type as EventType].label : type;
}

export function eventDescription(type: string): string {
  return Object.hasOwn(EVENT_INFO, type) ? EVENT_INFO[type as EventType].description : "";
}

/** The types to offer: the service's list (known ones first, in its order), never webhook.test. */
export function offeredEvents(fromService: readonly EventType[] | null | undefined): EventType[] {
  const list = fromService && fromService.length > 0 ? fromService : SUBSCRIBABLE;
  return [...new Set(list)].filter((t) => t !== "webhook.test");
}

/** `whsec_…a1B2`: the only form a stored signing secret is shown in. */
export function maskSecret(endpoint: Pick<WebhookEndpoint, "secret_last4">): string {
  return `whsec_…${endpoint.secret_last4}`;
}

// ---------------------------------------------------------------- the form

export type WebhookDraft = { url: string; description: string; events: EventType[] };
export type WebhookField = "url" | "description" | "events";
export type WebhookErrors = Partial<Record<WebhookField, string>>;

export function emptyDraft(): WebhookDraft {
  return { url: "", description: "", events: [] };
}

export function draftOf(endpoint: WebhookEndpoint): WebhookDraft {
  return { url: endpoint.url, description: endpoint.description, events: [...endpoint.events] };
}

/** Ticks or unticks one type, keeping the offered order. */
export function toggleEvent(draft: WebhookDraft, type: EventType, on: boolean, order: readonly EventType[]): EventType[] {
  const set = new Set(draft.events);
  if (on) set.add(type);
  else set.delete(type);
  const known = order.filter((t) => set.has(t));
  return [...known, ...[...set].filter((t) => !order.includes(t))];
}

/**
 * What is plainly missing, said before anything is sent. Whether a URL is
 * acceptable (https only, no private addresses…) is the service's call: its
 * answer is shown as it gives it.
 */
export function checkDraft(draft: WebhookDraft): WebhookErrors {
  const errors: WebhookErrors = {};
  if (draft.url.trim() === "") errors.url = "Enter the URL Keyport should send events to.";
  if (draft.events.length === 0) errors.events = "Choose at least one event.";
  if (draft.description.trim().length > 200) errors.description = "Keep the description to 200 characters.";
  return errors;
}

export function createRequest(draft: WebhookDraft): CreateWebhookRequest {
  const description = draft.description.trim();
  return { url: draft.url.trim(), events: [...draft.events], ...(description ? { description } : {}) };
}

/** Only what changed; an empty object when nothing did. */
export function updateRequest(endpoint: WebhookEndpoint, draft: WebhookDraft): UpdateWebhookRequest {
  const req: UpdateWebhookRequest = {};
  const url = draft.url.trim();
  if (url !== endpoint.url) req.url = url;
  const description = draft.description.trim();
  if (description !== endpoint.description) req.description = description;
  const same = draft.events.length === endpoint.events.length && draft.events.every((e) => endpoint.events.includes(e));
  if (!same) req.events = [...draft.events];
  return req;
}

/** The field a service "invalid" message is about ("url must use https://" → url). */
export function fieldForMessage(message: string): WebhookField | null {
  const m = message.trim().toLowerCase();
  if (m.startsWith("url")) return "url";
  if (m.startsWith("events") || m.includes("cannot be subscribed") || m.startsWith("unknown event")) return "events";
  if (m.startsWith("description")) return "description";
  return null;
}

/** The service's lower-case message as a sentence: "url must use https://" → "URL must use https://.". */
function sentence(s: string): string {
  const t = s.trim();
  if (t === "") return t;
  const first = /^url\b/.test(t) ? `URL${t.slice(3)}` : t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** The service's errors as this section means them (endpoints, not keys). */
export function adviseWebhookError(e: PortalError): ErrorAdvice {
  switch (e.code) {
    case "invalid":
      return { title: "Please check the endpoint", detail: sentence(e.message), steps: [] };
    case "conflict":
      return { title: "That can't be done now", detail: sentence(e.message), steps: ["refresh"] };
    case "limit_exceeded":
      return { title: "No room for another endpoint", detail: sentence(e.message), steps: [] };
    case "forbidden":
      return {
        title: "Not allowed",
        detail: `${sentence(e.message)} Webhooks announce every key of the account, so they need an admin key without resource limits.`,
        steps: ["reconnect"],
      };
    case "not_found":
      return { title: "That endpoint is gone", detail: `${sentence(e.message)} It may have been deleted elsewhere.`, steps: ["refresh"] };
    default:
      return adviseError(e);
  }
}

// ---------------------------------------------------------------- deliveries

export const STATUS_LABEL: Readonly<Record<DeliveryStatus, string>> = {
  pending: "Pending",
  delivered: "Delivered",
  failed: "Failed",
};

export const STATUS_BADGE: Readonly<Record<DeliveryStatus, string>> = {
  pending: "badge-amber",
  delivered: "badge-green",
  failed: "badge-red",
};

/** A delivery can be sent again unless it got through. */
export function canRetry(d: Pick<WebhookDelivery, "status">): boolean {
  return d.status === "pending" || d.status === "failed";
}

/** "due now", "in 4 s", "in 5 min", "in 10 h". */
export function nextAttemptText(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const s = Math.ceil((t - now) / 1000);
  if (s <= 0) return "due now";
  if (s < 60) return `in ${s} s`;
  if (s < 3600) return `in ${Math.round(s / 60)} min`;
  return relativeTime(iso, now);
}

/** How often an open delivery log refreshes. */
export const POLL_MS = 2_000;
/** After "Send test event", the log refreshes at least this long (the delivery may not be listed yet). */
export const AFTER_TEST_MS = 10_000;
/** A pending delivery waiting out a long back-off is checked this often instead. */
export const SLOW_POLL_MS = 30_000;

/**
 * When an open delivery log should ask again: every 2 s right after a test
 * event, or while a pending delivery is due (or due within a minute);
 * every 30 s while pending ones wait out a longer back-off; never when
 * nothing is pending, or while the endpoint is disabled.
 */
export function pollDelay(
  deliveries: readonly WebhookDelivery[] | null,
  now: number,
  testAt: number | null,
  enabled = true,
): number | null {
  // Nothing goes out to a disabled endpoint: nothing to follow.
  if (!enabled) return null;
  if (testAt !== null && now - testAt < AFTER_TEST_MS) return POLL_MS;
  let pending = false;
  for (const d of deliveries ?? []) {
    if (d.status !== "pending") continue;
    pending = true;
    const next = d.next_attempt_at === null ? NaN : Date.parse(d.next_attempt_at);
    if (Number.isNaN(next) || next - now < 60_000) return POLL_MS;
  }
  return pending ? SLOW_POLL_MS : null;
}

/** The log after one delivery changed (retry, test): it replaces its row, or comes first. */
export function withDelivery(list: readonly WebhookDelivery[], d: WebhookDelivery): WebhookDelivery[] {
  return list.some((x) => x.id === d.id) ? list.map((x) => (x.id === d.id ? d : x)) : [d, ...list];
}
