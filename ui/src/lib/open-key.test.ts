// Opening a listed key shows the listed copy at once, then the service's
// current one (its last use and any change made elsewhere).
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { key, NOW, status } from "../test/fixtures";
import { app } from "./app.svelte";

let calls: string[] = [];

beforeEach(() => {
  calls = [];
  app.status = status();
  app.now = NOW;
  app.keys.items = [];
  app.keys.loaded = true;
  app.detailsId = null;
});

afterEach(() => clearMocks());

describe("openKey", () => {
  it("re-reads a listed key and stores the fresh copy", async () => {
    const listed = key({ id: "key_a", name: "Edge", last_used_at: null });
    const fresh = { ...listed, last_used_at: new Date(NOW).toISOString(), allowed_ips: ["203.0.113.0/24"] };
    mockIPC((cmd) => {
      calls.push(cmd);
      if (cmd === "get_key") return fresh;
      throw { code: "internal", message: `unexpected ${cmd}`, retry_after: null };
    });
    app.keys.items = [listed];
    await app.openKey("key_a");
    expect(app.detailsId).toBe("key_a");
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toEqual(["get_key"]);
    expect(app.keyById("key_a")?.last_used_at).toBe(fresh.last_used_at);
    expect(app.keyById("key_a")?.allowed_ips).toEqual(["203.0.113.0/24"]);
  });

  it("keeps the listed copy when the re-read fails", async () => {
    const listed = key({ id: "key_b", name: "Edge" });
    mockIPC(() => {
      throw { code: "unreachable", message: "down", retry_after: null };
    });
    app.keys.items = [listed];
    await app.openKey("key_b");
    await new Promise((r) => setTimeout(r, 0));
    expect(app.detailsId).toBe("key_b");
    expect(app.keyById("key_b")).toEqual(listed);
  });
});
