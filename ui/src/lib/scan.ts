// Keys → "Scan a folder…": the findings as a person reads them. Pure.
import { formatNumber } from "./format";
import type { FolderFinding, FolderScan } from "./types";

export type FindingStatus = FolderFinding["status"];

export type StatusInfo = {
  /** The badge. */
  label: string;
  /** What it means and what to do. */
  hint: string;
  tone: "red" | "grey" | "quiet";
};

export const FINDING_STATUS: Readonly<Record<FindingStatus, StatusInfo>> = {
  live: {
    label: "Working key",
    hint: "A working key of this account: anyone with these files can use it. Rotate it, then remove it from the files.",
    tone: "red",
  },
  inactive: {
    label: "Revoked or expired",
    hint: "A key of this account that no longer works. Remove it from the files when convenient.",
    tone: "grey",
  },
  unknown: {
    label: "Not this account's",
    hint: "A real key, but not one of this account's keys (another account or service).",
    tone: "grey",
  },
  not_a_key: {
    label: "Not a real key",
    hint: "Shaped like a key but its checksum is wrong: a placeholder, an example or a typo.",
    tone: "quiet",
  },
};

const ORDER: Record<FindingStatus, number> = { live: 0, inactive: 1, unknown: 2, not_a_key: 3 };

function rankOf(s: string): number {
  return Object.hasOwn(ORDER, s) ? ORDER[s as FindingStatus] : 4;
}

/** Working keys first, then by file and position (a new array). */
export function sortFindings(findings: readonly FolderFinding[]): FolderFinding[] {
  return [...findings].sort(
    (a, b) =>
      rankOf(a.status) - rankOf(b.status) ||
      a.path.localeCompare(b.path) ||
      a.line - b.line ||
      a.column - b.column,
  );
}

/** `src/config.ts:12:7` */
export function findingPlace(f: Pick<FolderFinding, "path" | "line" | "column">): string {
  return f.column > 0 ? `${f.path}:${f.line}:${f.column}` : `${f.path}:${f.line}`;
}

export type ScanTally = Record<FindingStatus, number>;

export function tallyFindings(findings: readonly FolderFinding[]): ScanTally {
  const t: ScanTally = { live: 0, inactive: 0, unknown: 0, not_a_key: 0 };
  for (const f of findings) if (Object.hasOwn(t, f.status)) t[f.status] += 1;
  return t;
}

const count = (n: number, one: string, many = `${one}s`) => `${formatNumber(n)} ${n === 1 ? one : many}`;

/** "214 files scanned (3 skipped)". */
export function filesLine(scan: Pick<FolderScan, "files" | "skipped">): string {
  const skipped = scan.skipped > 0 ? ` (${formatNumber(scan.skipped)} skipped: too large or unreadable)` : "";
  return `${count(scan.files, "file")} scanned${skipped}`;
}

/** "1 working key of this account found" / "No working keys of this account found". */
export function liveLine(tally: ScanTally): string {
  if (tally.live === 0) return "No working keys of this account found";
  return `${count(tally.live, "working key")} of this account found`;
}

/** The other findings in a few words: "1 revoked or expired, 1 placeholder". */
export function otherLine(tally: ScanTally): string | null {
  const parts: string[] = [];
  if (tally.inactive > 0) parts.push(`${formatNumber(tally.inactive)} revoked or expired`);
  if (tally.unknown > 0) parts.push(`${formatNumber(tally.unknown)} not this account's`);
  if (tally.not_a_key > 0) parts.push(count(tally.not_a_key, "placeholder or fake", "placeholders or fakes"));
  return parts.length > 0 ? parts.join(", ") : null;
}

/** The folder's last part, for the title: "/home/me/acme-app/" → "acme-app". */
export function folderName(folder: string): string {
  const parts = folder.split(/[\\/]+/).filter((p) => p !== "");
  return parts[parts.length - 1] ?? folder;
}
