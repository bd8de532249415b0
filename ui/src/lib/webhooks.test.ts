import { describe, expect, it } from "vitest";
import type { WebhookDelivery, WebhookEndpoint } from "./types";
import {
  adviseWebhookError,
  AFTER_TEST_MS,
  canRetry,
  checkDraft,
  createRequest,
  draftOf,
  emptyDraft,
  eventLabel,
  fieldForMessage,
  maskSecret,
  nextAttemptText,
  offeredEvents,
  POLL_MS,
  pollDelay,
  SLOW_POLL_MS,
  SUBSCRIBABLE,
  toggleEvent,
  updateRequest,
  withDelivery,
} from "./webhooks";

const NOW = Date.parse("2026-03-12T12:00:00Z");
const at = (s: number) => new Date(NOW + s * 1000).toISOString();

const ENDPOINT: WebhookEndpoint = {
  id: "wh_1",
  url: "https://hooks.example.com/k",
  description: "Ops",
  events: ["key.created", "key.revoked"],
  enabled: true,
  disabled_reason: null,
  secret_last4: "Qk0=",
  created_at: at(-86_400),
};

function delivery(over: Partial<WebhookDelivery> = {}): WebhookDelivery {
  return {
    id: 1,
    event_id: "msg_1",
    event_type: "webhook.test",
    status: "delivered",
    attempts: 1,
    response_status: 200,
    error: null,
    latency_ms: 12,
    created_at: at(-60),
    last_attempt_at: at(-59),
    next_attempt_at: null,
    delivered_at: at(-59),
    ...over,
  };
}

describe("event types", () => {
  it("offers every type but webhook.test, named in words", () => {
    expect(SUBSCRIBABLE).toHaveLength(9);
    expect(SUBSCRIBABLE).not.toContain("webhook.test");
    expect(offeredEvents(null)).toEqual(SUBSCRIBABLE);
    expect(offeredEvents(["key.revoked", "webhook.test", "key.created", "key.revoked"])).toEqual(["key.revoked", "key.created"]);
    expect(eventLabel("key.rotation_due")).toBe("Rotation due");
    expect(eventLabel("key.renamed")).toBe("key.renamed");
    expect(maskSecret(ENDPOINT)).toBe("whsec_…Qk0=");
  });

  it("ticks and unticks in the offered order", () => {
    const d = { ...emptyDraft(), events: ["key.revoked" as const] };
    expect(toggleEvent(d, "key.created", true, SUBSCRIBABLE)).toEqual(["key.created", "key.revoked"]);
    expect(toggleEvent(d, "key.revoked", false, SUBSCRIBABLE)).toEqual([]);
  });
});

describe("the endpoint form", () => {
  it("says what is plainly missing and leaves the URL's rules to the service", () => {
    expect(checkDraft(emptyDraft())).toEqual({
      url: "Enter the URL Keyport should send events to.",
      events: "Choose at least one event.",
    });
    expect(checkDraft({ url: "not a url", description: "", events: ["key.created"] })).toEqual({});
    expect(checkDraft({ url: "https://a.example", description: "x".repeat(201), events: ["key.created"] }).description).toBeTruthy();
  });

  it("sends a trimmed request, and on edit only what changed", () => {
    expect(createRequest({ url: " https://a.example/h ", description: "  ", events: ["key.created"] })).toEqual({
      url: "https://a.example/h",
      events: ["key.created"],
    });
    expect(createRequest({ url: "https://a.example/h", description: " Ops ", events: ["key.created"] }).description).toBe("Ops");
    const same = draftOf(ENDPOINT);
    expect(updateRequest(ENDPOINT, same)).toEqual({});
    expect(updateRequest(ENDPOINT, { ...same, events: ["key.revoked", "key.created"] })).toEqual({});
    expect(updateRequest(ENDPOINT, { ...same, url: "https://b.example/k", events: ["key.created"] })).toEqual({
      url: "https://b.example/k",
      events: ["key.created"],
    });
    expect(updateRequest(ENDPOINT, { ...same, description: "" })).toEqual({ description: "" });
  });

  it("points the service's messages at their field", () => {
    expect(fieldForMessage("url must use https://, not ftp://")).toBe("url");
    expect(fieldForMessage("url points at a loopback, private or link-local address; …")).toBe("url");
    expect(fieldForMessage("events must name at least one event type")).toBe("events");
    expect(fieldForMessage('webhook.test cannot be subscribed to (it is sent by "send test event" only)')).toBe("events");
    expect(fieldForMessage("description is longer than 200 characters")).toBe("description");
    expect(fieldForMessage("nothing to change")).toBeNull();
  });

  it("words the service's errors for endpoints, not keys", () => {
    const invalid = adviseWebhookError({ code: "invalid", message: "url must use https://, not ftp://", retry_after: null });
    expect(invalid.detail).toBe("URL must use https://, not ftp://.");
    const limit = adviseWebhookError({
      code: "limit_exceeded",
      message: "an account has at most 20 webhook endpoints; delete one first",
      retry_after: null,
    });
    expect(limit.detail).toBe("An account has at most 20 webhook endpoints; delete one first.");
    expect(limit.detail).not.toMatch(/key/i);
    const conflict = adviseWebhookError({ code: "conflict", message: "this endpoint is disabled: enable it first", retry_after: null });
    expect(conflict.detail).toBe("This endpoint is disabled: enable it first.");
    expect(adviseWebhookError({ code: "forbidden", message: "no", retry_after: null }).detail).toMatch(/without resource limits/);
  });
});

describe("the delivery log", () => {
  it("retries only what did not get through", () => {
    expect(canRetry(delivery({ status: "pending" }))).toBe(true);
    expect(canRetry(delivery({ status: "failed" }))).toBe(true);
    expect(canRetry(delivery({ status: "delivered" }))).toBe(false);
  });

  it("says when the next attempt comes", () => {
    expect(nextAttemptText(at(-3), NOW)).toBe("due now");
    expect(nextAttemptText(at(4.2), NOW)).toBe("in 5 s");
    expect(nextAttemptText(at(300), NOW)).toBe("in 5 min");
    expect(nextAttemptText(at(5 * 3600), NOW)).toBe("in 5 h");
  });

  it("refreshes every 2 s after a test or while a delivery is due, slowly during a long back-off, else not", () => {
    const done = [delivery()];
    expect(pollDelay(done, NOW, null)).toBeNull();
    expect(pollDelay(null, NOW, null)).toBeNull();
    expect(pollDelay(done, NOW, NOW - 1_000)).toBe(POLL_MS);
    expect(pollDelay(done, NOW, NOW - AFTER_TEST_MS)).toBeNull();
    const due = delivery({ status: "pending", attempts: 0, next_attempt_at: at(0), delivered_at: null });
    expect(pollDelay([due, ...done], NOW, null)).toBe(POLL_MS);
    const soon = delivery({ status: "pending", next_attempt_at: at(5) });
    expect(pollDelay([soon], NOW, null)).toBe(POLL_MS);
    const later = delivery({ status: "pending", next_attempt_at: at(1800) });
    expect(pollDelay([later, ...done], NOW, null)).toBe(SLOW_POLL_MS);
    expect(pollDelay([later, soon], NOW, null)).toBe(POLL_MS);
    // A disabled endpoint sends nothing: nothing to follow.
    expect(pollDelay([due], NOW, NOW, false)).toBeNull();
  });

  it("puts a changed delivery in its row, a new one first", () => {
    const a = delivery({ id: 1 });
    const b = delivery({ id: 2, status: "failed" });
    expect(withDelivery([b, a], { ...b, status: "pending" }).map((d) => [d.id, d.status])).toEqual([
      [2, "pending"],
      [1, "delivered"],
    ]);
    expect(withDelivery([a], b).map((d) => d.id)).toEqual([2, 1]);
  });
});
