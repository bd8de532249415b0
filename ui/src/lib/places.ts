// Countries and time zones for the Policies screen: the ISO 3166-1 alpha-2
// codes with their English names (Intl.DisplayNames where the webview has
// it), the IANA time zones (Intl.supportedValuesOf, or a short list), and
// searching both. Pure apart from the lazily built Intl objects.

/** Every ISO 3166-1 alpha-2 code (249), as the service's allowed-countries list takes them. */
export const COUNTRY_CODES: readonly string[] = (
  "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW " +
  "BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI " +
  "FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN " +
  "IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME " +
  "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF " +
  "PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV " +
  "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE " +
  "YT ZA ZM ZW"
).split(" ");

/** What people type for a country whose code or name is something else. */
const COUNTRY_ALIASES: Readonly<Record<string, string>> = {
  UK: "GB",
  USA: "US",
  AMERICA: "US",
  ENGLAND: "GB",
  BRITAIN: "GB",
  HOLLAND: "NL",
};

const MAX_RESULTS = 8;

let regionNames: Intl.DisplayNames | null | undefined;

/** "Germany" for "DE"; the code itself where the webview cannot name it. */
export function countryName(code: string): string {
  if (regionNames === undefined) {
    try {
      regionNames = new Intl.DisplayNames(["en"], { type: "region" });
    } catch {
      regionNames = null;
    }
  }
  try {
    const name = regionNames?.of(code);
    return name && name !== code && name !== "Unknown Region" ? name : code;
  } catch {
    return code;
  }
}

/** Lower case without accents: "Curaçao" and "curacao" match. */
function fold(s: string): string {
  return s.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

/** 0 best … 3 worst, or null when `name` does not match `q` (folded). */
function nameRank(name: string, q: string): number | null {
  const n = fold(name);
  if (n === q) return 0;
  if (n.startsWith(q)) return 1;
  if (n.split(/[\s,()'/-]+/).some((w) => w.startsWith(q))) return 2;
  return n.includes(q) ? 3 : null;
}

function countryRank(code: string, query: string): number | null {
  const upper = query.trim().toUpperCase();
  if (code === upper || COUNTRY_ALIASES[upper] === code) return 0;
  return nameRank(countryName(code), fold(query.trim()));
}

/** Countries matching `query` by code or name, best first, without those already chosen. */
export function searchCountries(query: string, chosen: readonly string[] = [], limit = MAX_RESULTS): string[] {
  if (query.trim() === "") return [];
  return COUNTRY_CODES.filter((c) => !chosen.includes(c))
    .map((code) => ({ code, rank: countryRank(code, query) }))
    .filter((x): x is { code: string; rank: number } => x.rank !== null)
    .sort((a, b) => a.rank - b.rank || countryName(a.code).localeCompare(countryName(b.code)))
    .slice(0, limit)
    .map((x) => x.code);
}

/** Two letters, as the service stores them (upper case); null when it is not a country code. */
export function cleanCountry(raw: string): string | null {
  const c = raw.trim().toUpperCase();
  return /^[A-Z]{2}$/.test(c) ? c : null;
}

/** Chosen codes sorted by name, for the chips. */
export function byCountryName(codes: readonly string[]): string[] {
  return [...codes].sort((a, b) => countryName(a).localeCompare(countryName(b)));
}

// ---------------------------------------------------------------- time zones

/** Where the webview cannot list its zones: the commonest ones. */
const FALLBACK_ZONES: readonly string[] = [
  "Africa/Cairo",
  "Africa/Johannesburg",
  "Africa/Lagos",
  "Africa/Nairobi",
  "America/Anchorage",
  "America/Bogota",
  "America/Chicago",
  "America/Denver",
  "America/Halifax",
  "America/Los_Angeles",
  "America/Mexico_City",
  "America/New_York",
  "America/Phoenix",
  "America/Sao_Paulo",
  "America/Toronto",
  "America/Vancouver",
  "Asia/Bangkok",
  "Asia/Dubai",
  "Asia/Hong_Kong",
  "Asia/Jakarta",
  "Asia/Jerusalem",
  "Asia/Kolkata",
  "Asia/Manila",
  "Asia/Seoul",
  "Asia/Shanghai",
  "Asia/Singapore",
  "Asia/Tokyo",
  "Atlantic/Reykjavik",
  "Australia/Melbourne",
  "Australia/Perth",
  "Australia/Sydney",
  "Europe/Amsterdam",
  "Europe/Athens",
  "Europe/Berlin",
  "Europe/Dublin",
  "Europe/Helsinki",
  "Europe/Istanbul",
  "Europe/Lisbon",
  "Europe/London",
  "Europe/Madrid",
  "Europe/Moscow",
  "Europe/Paris",
  "Europe/Rome",
  "Europe/Stockholm",
  "Europe/Warsaw",
  "Europe/Zurich",
  "Pacific/Auckland",
  "Pacific/Honolulu",
];

let zones: readonly string[] | null = null;

/** UTC first, then the webview's IANA zones (or the short list). */
export function timeZones(): readonly string[] {
  if (zones) return zones;
  let listed: readonly string[] = FALLBACK_ZONES;
  try {
    const all = Intl.supportedValuesOf?.("timeZone");
    if (all && all.length > 0) listed = all;
  } catch {
    // An older webview: the short list.
  }
  zones = ["UTC", ...listed.filter((z) => z !== "UTC")];
  return zones;
}

/** The listed spelling of a zone typed in any case ("europe/berlin" → "Europe/Berlin"). */
export function normalizeTimeZone(raw: string, list: readonly string[] = timeZones()): string {
  const t = raw.trim();
  const lower = t.toLowerCase();
  return list.find((z) => z.toLowerCase() === lower) ?? t;
}

/** Accepted by the webview (aliases such as Etc/UTC or US/Eastern the list leaves out). */
function knownToIntl(tz: string): boolean {
  if (!/^[A-Z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** null when `tz` (already normalized) is a time zone the service will take. */
export function validateTimeZone(tz: string, list: readonly string[] = timeZones()): string | null {
  if (tz.trim() === "") return "Choose a time zone, e.g. Europe/Berlin.";
  if (list.includes(tz) || knownToIntl(tz)) return null;
  return `“${tz}” is not a time zone. Pick one from the list, e.g. Europe/Berlin.`;
}

/** Zones matching `query` ("new york", "berlin", "utc"), best first. */
export function searchTimeZones(query: string, list: readonly string[] = timeZones(), limit = MAX_RESULTS): string[] {
  const q = fold(query.trim().replace(/_/g, " "));
  if (q === "") return [];
  return list
    .map((zone) => ({ zone, rank: nameRank(zone.replace(/_/g, " "), q) }))
    .filter((x): x is { zone: string; rank: number } => x.rank !== null)
    .sort((a, b) => a.rank - b.rank || a.zone.localeCompare(b.zone))
    .slice(0, limit)
    .map((x) => x.zone);
}
