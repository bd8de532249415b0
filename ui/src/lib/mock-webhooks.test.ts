// The dev mock backend's webhooks (what `npm run ui:mock` shows): the
// service's checks and limits, a simulated worker, and key events announced.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type {
  Alert,
  CreatedWebhook,
  DeliveryList,
  KeyList,
  OnceSecret,
  PortalError,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookList,
} from "./types";

let invoke: (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;

beforeAll(async () => {
  window.history.replaceState({}, "", "/?delay=0");
  invoke = (await import("./mock-backend")).mockInvoke;
});

afterAll(() => window.history.replaceState({}, "", "/"));

const call = <T>(cmd: string, args: Record<string, unknown> = {}) => invoke(cmd, args) as Promise<T>;
const refusal = (p: Promise<unknown>) => p.then(() => null, (e: PortalError) => e);
const create = (req: Record<string, unknown>) => call<CreatedWebhook>("create_webhook", { req });
const log = async (id: string) => (await call<DeliveryList>("webhook_deliveries", { id })).deliveries;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("mock webhooks", () => {
  it("seeds a working endpoint and one the service disabled, with its alert", async () => {
    const list = await call<WebhookList>("list_webhooks");
    expect(list.event_types).toHaveLength(9);
    expect(list.event_types).not.toContain("webhook.test");
    const [relay, sync] = list.endpoints as [WebhookEndpoint, WebhookEndpoint];
    expect(relay).toMatchObject({ enabled: true, disabled_reason: null });
    expect(relay).not.toHaveProperty("secret");
    expect(sync.enabled).toBe(false);
    expect(sync.disabled_reason).toMatch(/^disabled after every delivery since .* UTC failed$/);
    const alerts = (await call<{ alerts: Alert[] }>("list_alerts", { all: false })).alerts;
    const failing = alerts.find((a) => a.kind === "webhook_failing")!;
    expect(failing.key_id).toBe(sync.id);
    expect(failing.evidence).toMatchObject({ endpoint_id: sync.id, url: sync.url });
  });

  it("checks URLs, events and descriptions like the service", async () => {
    const events = ["key.created"];
    expect((await refusal(create({ url: "not a url", events })))?.message).toMatch(/^url is not a valid URL/);
    expect((await refusal(create({ url: "ftp://x.example/h", events })))?.message).toBe("url must use https://, not ftp://");
    expect((await refusal(create({ url: "https://u:p@x.example/h", events })))?.code).toBe("invalid");
    expect((await refusal(create({ url: "https://x.example/h#top", events })))?.message).toBe("url must not have a #fragment");
    expect((await refusal(create({ url: "https://x.example/h", events: [] })))?.message).toBe(
      "events must name at least one event type",
    );
    expect((await refusal(create({ url: "https://x.example/h", events: ["webhook.test"] })))?.message).toMatch(
      /webhook\.test cannot be subscribed to/,
    );
    expect((await refusal(create({ url: "https://x.example/h", events, description: "x".repeat(201) })))?.code).toBe("invalid");
    const made = await create({ url: " https://x.example ", events: ["key.revoked", "key.created", "key.revoked"] });
    expect(made.endpoint).toMatchObject({ url: "https://x.example/", events: ["key.created", "key.revoked"], description: "" });
    expect(made.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(made.endpoint.secret_last4).toBe(made.secret.slice(-4));
    await call("delete_webhook", { id: made.endpoint.id });
  });

  it("delivers a test event within a second; a delivered one is not retried", async () => {
    const made = await create({ url: "https://ok.example/h", events: ["key.created"] });
    const id = made.endpoint.id;
    const d = await call<WebhookDelivery>("test_webhook", { id });
    expect(d).toMatchObject({ event_type: "webhook.test", status: "pending", attempts: 0, response_status: null });
    expect((await log(id))[0]!.status).toBe("pending");
    await sleep(800);
    const [done] = await log(id);
    expect(done).toMatchObject({ id: d.id, status: "delivered", attempts: 1, response_status: 200, error: null });
    expect(done!.latency_ms).toBeLessThan(100);
    expect((await refusal(call("retry_delivery", { id, delivery: d.id })))?.code).toBe("conflict");
    // A new key is announced to the endpoints subscribed to key.created.
    await call<OnceSecret>("create_key", {
      input: { name: "n", environment: "test", scopes: ["read"], resources: [], expires_at: null, rate_limit: null },
    });
    expect((await log(id)).map((x) => x.event_type)).toEqual(["key.created", "webhook.test"]);
    await call("delete_webhook", { id });
    expect((await refusal(log(id)))?.code).toBe("not_found");
  });

  it("a receiver that is down: back-off, and disabled endpoints refuse tests and retries", async () => {
    const made = await create({ url: "https://down.example/h", events: ["key.revoked"] });
    const id = made.endpoint.id;
    const d = await call<WebhookDelivery>("test_webhook", { id });
    await sleep(800);
    const [tried] = await log(id);
    expect(tried).toMatchObject({ status: "pending", attempts: 1, response_status: null });
    expect(tried!.error).toMatch(/could not connect/);
    expect(Date.parse(tried!.next_attempt_at!) - Date.parse(tried!.last_attempt_at!)).toBeGreaterThanOrEqual(4_000);

    const off = await call<WebhookEndpoint>("update_webhook", { id, req: { enabled: false } });
    expect(off).toMatchObject({ enabled: false, disabled_reason: null });
    expect((await refusal(call("test_webhook", { id })))?.message).toBe("this endpoint is disabled: enable it first");
    expect((await refusal(call("retry_delivery", { id, delivery: d.id })))?.message).toBe("this endpoint is disabled: enable it first");
    // Nothing is announced to a disabled endpoint.
    const keys = await call<KeyList>("list_keys", { cursor: null });
    const victim = keys.keys.find((k) => k.status === "active" && !k.scopes.includes("admin"))!;
    await call("revoke_key", { id: victim.id });
    expect(await log(id)).toHaveLength(1);
    expect((await refusal(call("update_webhook", { id, req: {} })))?.message).toMatch(/^nothing to change/);
    await call("delete_webhook", { id });
  });

  it("holds at most 20 endpoints", async () => {
    const have = (await call<WebhookList>("list_webhooks")).endpoints.length;
    const made: string[] = [];
    for (let i = have; i < 20; i++) made.push((await create({ url: `https://h${i}.example/`, events: ["key.created"] })).endpoint.id);
    const full = await refusal(create({ url: "https://one-more.example/", events: ["key.created"] }));
    expect(full).toMatchObject({ code: "limit_exceeded", message: "an account has at most 20 webhook endpoints; delete one first" });
    for (const id of made) await call("delete_webhook", { id });
  });
});
