// The mock's keys have keyport-core's format: `to_<env>_`, 56 random lowercase
// hex characters, and the CRC32 (IEEE) of all that as 8 more. Vectors from
// Python's zlib.crc32, e.g.
//   python3 -c "import zlib;print('%08x'%zlib.crc32(b'to_live_'+b'0'*56))"
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CompromiseRotation, Environment, KeyList, KeyView, OnceSecret } from "../types";
import { crc32, generateKey, isValidKey, keyFormatProblem, KEY_BODY_LEN } from "./key-format";

const ZEROS = `to_live_${"0".repeat(56)}`;
const ENVS: Environment[] = ["live", "test", "staging"];
const SHAPE = /^to_(live|test|staging)_[0-9a-f]{64}$/;

describe("crc32", () => {
  it("matches zlib's", () => {
    expect(crc32("")).toBe(0);
    expect(crc32("123456789")).toBe(0xcbf43926);
    expect(crc32(ZEROS)).toBe(0x96ea3aaf);
    expect(crc32(`to_test_${"0123456789abcdef".repeat(3)}01234567`)).toBe(0xff696a54);
  });
});

describe("key format", () => {
  it("accepts the reference key and says what is wrong with others, like keyport-core", () => {
    expect(keyFormatProblem(`${ZEROS}96ea3aaf`)).toBeNull();
    expect(keyFormatProblem(`${ZEROS}96ea3aae`)).toMatch(/checksum does not match/);
    expect(keyFormatProblem(`${ZEROS}96EA3AAF`)).toBe("the key body must be lowercase hex; character 58 of the body is not");
    expect(keyFormatProblem(`${ZEROS}96ea3a`)).toBe("the key body must be 64 characters long, found 62");
    expect(keyFormatProblem(`to_prod_${"0".repeat(56)}96ea3aaf`)).toMatch(/environment must be live, test or staging/);
    expect(keyFormatProblem(`sk_live_${"0".repeat(56)}96ea3aaf`)).toBe('the key must start with "to_"');
    expect(keyFormatProblem("")).toBe("the key is empty");
  });

  it("generates valid, distinct keys for every environment", () => {
    const seen = new Set<string>();
    for (const env of ENVS) {
      for (let i = 0; i < 200; i++) {
        const key = generateKey(env);
        expect(key.startsWith(`to_${env}_`)).toBe(true);
        expect(key.length).toBe(`to_${env}_`.length + KEY_BODY_LEN);
        expect(key).toMatch(SHAPE);
        expect(keyFormatProblem(key)).toBeNull();
        seen.add(key);
      }
    }
    expect(seen.size).toBe(600);
  });
});

describe("the mock backend's keys", () => {
  let invoke: (cmd: string, args?: Record<string, unknown>) => Promise<unknown>;
  const call = <T>(cmd: string, args: Record<string, unknown> = {}) => invoke(cmd, args) as Promise<T>;
  const listed = async () => (await call<KeyList>("list_keys", { cursor: null })).keys;

  beforeAll(async () => {
    window.history.replaceState({}, "", "/?delay=0");
    invoke = (await import("../mock-backend")).mockInvoke;
  });
  afterAll(() => window.history.replaceState({}, "", "/"));

  /** The one-time secret is a valid key, and the stored key is what it shows. */
  function expectShown(once: OnceSecret) {
    expect(once.secret).toMatch(SHAPE);
    expect(isValidKey(once.secret), once.secret).toBe(true);
    expect(once.secret.startsWith(once.key.prefix)).toBe(true);
    expect(once.secret.endsWith(once.key.last4)).toBe(true);
    expect(once.key.prefix).toBe(`to_${once.key.environment}_`);
  }

  it("seeds keys shaped like the service's", async () => {
    for (const k of await listed()) {
      expect(k.id).toMatch(/^key_[0-9a-f]{20}$/);
      expect(k.prefix).toBe(`to_${k.environment}_`);
      expect(k.last4).toMatch(/^[0-9a-f]{4}$/);
    }
  });

  it("every key it creates passes the checksum: new keys, replacements, compromise rotations", async () => {
    for (const environment of ENVS) {
      const input = { name: `n-${environment}`, environment, scopes: ["read"], resources: [], expires_at: null, rate_limit: null };
      const once = await call<OnceSecret>("create_key", { input });
      expectShown(once);
      expect(once.key.id).toMatch(/^key_[0-9a-f]{20}$/);
      const rotated = await call<OnceSecret>("rotate_key", { id: once.key.id });
      expectShown(rotated);
      expect(rotated.key.replaces).toBe(once.key.id);
      const compromised = await call<CompromiseRotation>("rotate_compromised", { id: rotated.key.id });
      expectShown(compromised.once);
    }
    // The new keys are listed as created: masked, never the secret.
    const keys = await listed();
    expect(JSON.stringify(keys)).not.toMatch(/to_(live|test|staging)_[0-9a-f]{16,}/);
    expect(keys.filter((k: KeyView) => k.name.startsWith("n-"))).toHaveLength(9);
  });

  it("a replacement's own secret is recognised by the check", async () => {
    const [analytics] = (await listed()).filter((k) => k.name === "Analytics dashboard" && k.replaces === null);
    const once = await call<OnceSecret>("rotate_key", { id: analytics.id });
    expectShown(once);
    const check = await call<{ matches: boolean; accepted: boolean }>("check_replacement", { id: once.key.id, secret: once.secret });
    expect(check).toMatchObject({ matches: true, accepted: true });
  });
});
