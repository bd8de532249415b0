// DEV ONLY (the mock backend). Webhook endpoints and their delivery logs
// (the worker: ../webhook-worker.ts). The URL, events and description are
// checked with the embedded service's words, since the UI shows them as
// they come (private addresses are allowed, like the embedded service's).
import type { EventType, WebhookEndpoint } from "../../types";
import { SUBSCRIBABLE } from "../../webhooks";
import type { Handlers } from "../commands";
import { record, type MockState } from "../state";
import { fail, iso, newId } from "../util";
import { advance, deliveryView, logOf, queueDelivery, sendSoon } from "../webhook-worker";

const MAX_WEBHOOKS = 20;

/** An http(s) URL with a host, no credentials, no #fragment. */
function checkUrl(raw: string): string {
  const s = raw.trim();
  if (s.length > 2000) fail("invalid", "url is longer than 2000 characters");
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    // The url crate's words for the usual mistakes.
    const why = /^[a-z][a-z0-9+.-]*:\/\/\/?$/i.test(s) ? "empty host" : "relative URL without a base";
    fail("invalid", `url is not a valid URL: ${why}`);
  }
  const scheme = u.protocol.replace(/:$/, "");
  if (scheme !== "https" && scheme !== "http") fail("invalid", `url must use https://, not ${scheme}://`);
  if (u.username !== "" || u.password !== "") fail("invalid", "url must not carry a user name or password");
  if (u.hash !== "") fail("invalid", "url must not have a #fragment");
  if (u.hostname === "") fail("invalid", "url has no host");
  return u.toString();
}

/** At least one subscribable type, in the service's order, once each. */
function checkEvents(list: readonly EventType[]): EventType[] {
  for (const e of list) {
    if (e === "webhook.test") fail("invalid", 'webhook.test cannot be subscribed to (it is sent by "send test event" only)');
    if (!SUBSCRIBABLE.includes(e)) fail("invalid", `unknown event type ${JSON.stringify(e)}`);
  }
  if (list.length === 0) fail("invalid", "events must name at least one event type");
  return SUBSCRIBABLE.filter((t) => list.includes(t));
}

function checkDescription(raw: string): string {
  const d = raw.trim();
  if ([...d].length > 200) fail("invalid", "description is longer than 200 characters");
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(d)) fail("invalid", "description must not contain control characters");
  return d;
}

function findWebhook(s: MockState, id: string): WebhookEndpoint {
  const ep = s.webhooks.find((w) => w.id === id);
  if (!ep) fail("not_found", "webhook endpoint not found");
  return ep;
}

/** The signing secret `whsec_…`: 32 random bytes in base64. */
function signingSecret(): string {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...b))}`;
}

/** Enabled again: pending deliveries go out again, and the alert that said it was disabled ends. */
function resume(s: MockState, ep: WebhookEndpoint) {
  const now = Date.now();
  for (const d of logOf(s, ep)) if (d.status === "pending" && (d.dueMs === null || d.dueMs < now)) sendSoon(d, now);
  for (const al of s.alerts) {
    if (al.kind === "webhook_failing" && al.key_id === ep.id && al.status !== "resolved") {
      al.status = "resolved";
      al.resolved_at = iso(now);
    }
  }
}

export const webhookHandlers = {
  list_webhooks: (_, s) => ({ endpoints: s.webhooks, event_types: [...SUBSCRIBABLE] }),

  create_webhook: ({ req }, s) => {
    const url = checkUrl(req.url);
    const events = checkEvents(req.events);
    const description = checkDescription(req.description ?? "");
    if (s.webhooks.length >= MAX_WEBHOOKS) {
      fail("limit_exceeded", `an account has at most ${MAX_WEBHOOKS} webhook endpoints; delete one first`);
    }
    const secret = signingSecret();
    const endpoint: WebhookEndpoint = {
      id: newId("wh"),
      url,
      description,
      events,
      enabled: true,
      disabled_reason: null,
      secret_last4: secret.slice(-4),
      created_at: iso(Date.now()),
    };
    s.webhooks.push(endpoint);
    record(s, "webhook.create", null, { endpoint_id: endpoint.id, url, events });
    return { endpoint, secret };
  },

  update_webhook: ({ id, req }, s) => {
    const ep = findWebhook(s, id);
    // Checked first: a refused field changes nothing.
    const url = req.url != null ? checkUrl(req.url) : null;
    const events = req.events != null ? checkEvents(req.events) : null;
    const description = req.description != null ? checkDescription(req.description) : null;
    const enabled = typeof req.enabled === "boolean" ? req.enabled : null;
    if (url === null && events === null && description === null && enabled === null) {
      fail("invalid", "nothing to change: send url, events, description or enabled");
    }
    const changed: Record<string, unknown> = {};
    if (url !== null) ep.url = changed.url = url;
    if (events !== null) ep.events = changed.events = events;
    if (description !== null) ep.description = changed.description = description;
    if (enabled !== null) {
      const resumed = enabled && !ep.enabled;
      ep.enabled = changed.enabled = enabled;
      if (enabled) ep.disabled_reason = null;
      if (resumed) resume(s, ep);
    }
    record(s, "webhook.update", null, { ...changed, endpoint_id: ep.id });
    return ep;
  },

  delete_webhook: ({ id }, s) => {
    const ep = findWebhook(s, id);
    s.webhooks.splice(s.webhooks.indexOf(ep), 1);
    s.deliveries.delete(ep.id);
    record(s, "webhook.delete", null, { endpoint_id: ep.id });
    return null;
  },

  test_webhook: ({ id }, s) => {
    const ep = findWebhook(s, id);
    if (!ep.enabled) fail("conflict", "this endpoint is disabled: enable it first");
    advance(s, ep);
    return deliveryView(queueDelivery(s, ep, "webhook.test"));
  },

  webhook_deliveries: ({ id }, s) => {
    const ep = findWebhook(s, id);
    advance(s, ep);
    return { deliveries: logOf(s, ep).slice(0, 50).map(deliveryView) };
  },

  retry_delivery: ({ id, delivery }, s) => {
    const ep = findWebhook(s, id);
    advance(s, ep);
    const d = logOf(s, ep).find((x) => x.id === delivery);
    if (!d) fail("not_found", "delivery not found");
    if (d.status === "delivered") fail("conflict", "this delivery succeeded; send a test event instead");
    if (!ep.enabled) fail("conflict", "this endpoint is disabled: enable it first");
    sendSoon(d);
    return deliveryView(d);
  },
} satisfies Partial<Handlers>;
