// DEV ONLY (the mock backend). The service's webhook worker, simulated:
// deliveries are attempted lazily (when the log is read), on the service's
// retry schedule, so a pending one turns delivered, or backs off, as time
// passes. The mock's receivers: a host with "down" or "fail" in it, or a
// .invalid name, never answers; every other one answers 200.
import type { EventType, WebhookDelivery, WebhookEndpoint } from "../types";
import type { MockState, QueuedDelivery } from "./state";
import { iso, newId } from "./util";

/** keyport-core's RETRY_SCHEDULE_SECS: the last attempt about 27 hours after the first. */
const RETRY_S = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/** The worker picks a new delivery up within a second. */
export const SEND_AFTER_MS = 700;
/** The log keeps this many deliveries per endpoint. */
const KEPT = 200;
const REFUSED = "could not connect: tcp connect error: Connection refused (os error 111)";

export function isDown(url: string): boolean {
  const host = new URL(url).hostname;
  return /down|fail/.test(host) || host.endsWith(".invalid");
}

export function logOf(s: MockState, ep: WebhookEndpoint): QueuedDelivery[] {
  let log = s.deliveries.get(ep.id);
  if (!log) s.deliveries.set(ep.id, (log = []));
  return log;
}

export function deliveryView(d: QueuedDelivery): WebhookDelivery {
  const { dueMs: _due, ...view } = d;
  return view;
}

/** A new delivery of one event to one endpoint, sent by the worker a moment later. */
export function queueDelivery(s: MockState, ep: WebhookEndpoint, type: EventType, at = Date.now()): QueuedDelivery {
  const d: QueuedDelivery = {
    id: s.nextDeliveryId++,
    event_id: newId("msg"),
    event_type: type,
    status: "pending",
    attempts: 0,
    response_status: null,
    error: null,
    latency_ms: null,
    created_at: iso(at),
    last_attempt_at: null,
    next_attempt_at: iso(at),
    delivered_at: null,
    dueMs: at + SEND_AFTER_MS,
  };
  const log = logOf(s, ep);
  log.unshift(d);
  log.length = Math.min(log.length, KEPT);
  return d;
}

/** An event of the account: one delivery for each enabled endpoint subscribed to it. */
export function announce(s: MockState, type: EventType) {
  for (const ep of s.webhooks) if (ep.enabled && ep.events.includes(type)) queueDelivery(s, ep, type);
}

/** One attempt at `at`: 200 from a working receiver, else the next back-off or, after the last, failed. */
function attempt(ep: WebhookEndpoint, d: QueuedDelivery, at: number) {
  d.attempts += 1;
  d.last_attempt_at = iso(at);
  if (!isDown(ep.url)) {
    d.latency_ms = 4 + Math.floor(Math.random() * 40);
    d.status = "delivered";
    d.response_status = 200;
    d.error = null;
    d.delivered_at = iso(at + d.latency_ms);
    d.next_attempt_at = null;
    d.dueMs = null;
    return;
  }
  d.latency_ms = 1 + Math.floor(Math.random() * 4);
  d.response_status = null;
  d.error = REFUSED;
  const wait = RETRY_S[d.attempts - 1];
  d.status = wait === undefined ? "failed" : "pending";
  d.dueMs = wait === undefined ? null : at + wait * 1000;
  d.next_attempt_at = d.dueMs === null ? null : iso(d.dueMs);
}

/** Runs the attempts that fell due since the log was last read (none while the endpoint is off). */
export function advance(s: MockState, ep: WebhookEndpoint, now = Date.now()) {
  if (!ep.enabled) return;
  for (const d of logOf(s, ep)) {
    while (d.status === "pending" && d.dueMs !== null && d.dueMs <= now) attempt(ep, d, d.dueMs);
  }
}

/** Sends a delivery again within a second. */
export function sendSoon(d: QueuedDelivery, now = Date.now()) {
  d.status = "pending";
  d.next_attempt_at = iso(now);
  d.dueMs = now + SEND_AFTER_MS;
}
