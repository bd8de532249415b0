// DEV ONLY (the mock backend). The key format of keyport-core
// (crates/keyport-core/src/key.rs), so the mock's keys look like real ones:
// `to_<env>_`, 28 CSPRNG bytes as 56 lowercase hex characters, then the
// CRC32 (IEEE, as crc32fast and zlib compute it) of everything before it as
// 8 lowercase hex characters. A key body is 64 characters.
import type { Environment } from "../types";
import { toHex } from "./util";

/** The deployment's product prefix (keyport-core's default). */
export const KEY_PREFIX = "to";
/** Hex characters after `to_<env>_`. */
export const KEY_BODY_LEN = 64;
const RANDOM_BYTES = 28;
const RANDOM_HEX = RANDOM_BYTES * 2;
const MAX_KEY_LEN = 128;
const ENVIRONMENTS: readonly Environment[] = ["live", "test", "staging"];

let table: Uint32Array | null = null;

function crcTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) of the UTF-8 bytes of `text`. */
export function crc32(text: string): number {
  const t = (table ??= crcTable());
  let c = 0xffffffff;
  for (const b of new TextEncoder().encode(text)) c = t[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function crcHex(text: string): string {
  return crc32(text).toString(16).padStart(8, "0");
}

/** `to_live_`: the part of a key that is safe to show (KeyView.prefix). */
export function displayPrefix(env: Environment): string {
  return `${KEY_PREFIX}_${env}_`;
}

/** A new key: 28 bytes from `crypto.getRandomValues`, then the checksum. */
export function generateKey(env: Environment): string {
  const start = displayPrefix(env) + toHex(crypto.getRandomValues(new Uint8Array(RANDOM_BYTES)));
  return start + crcHex(start);
}

/** The last four characters: all a stored key is ever shown by. */
export function last4(raw: string): string {
  return raw.slice(-4);
}

/**
 * Why `raw` is not a key, in keyport-core's words (`KeyPrefix::parse`:
 * prefix, environment, length, hex, checksum, in that order), or null.
 */
export function keyFormatProblem(raw: string): string | null {
  if (raw === "") return "the key is empty";
  if (new TextEncoder().encode(raw).length > MAX_KEY_LEN) return "the key is too long to be a Keyport key";
  if (!raw.startsWith(`${KEY_PREFIX}_`)) return `the key must start with "${KEY_PREFIX}_"`;
  const rest = raw.slice(KEY_PREFIX.length + 1);
  const cut = rest.indexOf("_");
  if (cut === -1 || !ENVIRONMENTS.includes(rest.slice(0, cut) as Environment)) {
    return "the key's environment must be live, test or staging";
  }
  const body = rest.slice(cut + 1);
  if (body.length !== KEY_BODY_LEN) {
    return `the key body must be ${KEY_BODY_LEN} characters long, found ${[...body].length}`;
  }
  const notHex = [...body].findIndex((c) => !/[0-9a-f]/.test(c));
  if (notHex !== -1) return `the key body must be lowercase hex; character ${notHex} of the body is not`;
  const signed = raw.length - (KEY_BODY_LEN - RANDOM_HEX);
  if (crcHex(raw.slice(0, signed)) !== raw.slice(signed)) {
    return "the key's checksum does not match: it is mistyped or not a Keyport key";
  }
  return null;
}

export function isValidKey(raw: string): boolean {
  return keyFormatProblem(raw) === null;
}
