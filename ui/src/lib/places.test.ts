import { describe, expect, it } from "vitest";
import {
  byCountryName,
  cleanCountry,
  COUNTRY_CODES,
  countryName,
  normalizeTimeZone,
  searchCountries,
  searchTimeZones,
  timeZones,
  validateTimeZone,
} from "./places";

describe("countries", () => {
  it("lists every ISO 3166-1 alpha-2 code once", () => {
    expect(COUNTRY_CODES).toHaveLength(249);
    expect(new Set(COUNTRY_CODES).size).toBe(249);
    expect(COUNTRY_CODES.every((c) => /^[A-Z]{2}$/.test(c))).toBe(true);
    expect(COUNTRY_CODES).toEqual([...COUNTRY_CODES].sort());
    for (const c of ["DE", "US", "GB", "JP", "BR", "ZW", "AX"]) expect(COUNTRY_CODES).toContain(c);
  });

  it("names them in English, the code where there is no name", () => {
    expect(countryName("DE")).toBe("Germany");
    expect(countryName("GB")).toBe("United Kingdom");
    expect(countryName("ZZ")).toBe("ZZ");
  });

  it("finds countries by code, name, word and alias, best first", () => {
    expect(searchCountries("de")[0]).toBe("DE");
    expect(searchCountries("germ")).toEqual(["DE"]);
    expect(searchCountries("Kingdom")).toContain("GB");
    expect(searchCountries("uk")[0]).toBe("GB");
    expect(searchCountries("usa")[0]).toBe("US");
    // Accents do not matter.
    expect(searchCountries("curacao")).toContain("CW");
    expect(searchCountries("côte")).toContain("CI");
  });

  it("leaves out chosen countries, caps the list, and needs a query", () => {
    expect(searchCountries("germany", ["DE"])).toEqual([]);
    expect(searchCountries("a").length).toBe(8);
    expect(searchCountries("a", [], 3)).toHaveLength(3);
    expect(searchCountries("   ")).toEqual([]);
    expect(searchCountries("xyzzy")).toEqual([]);
  });

  it("cleans codes as the service does and sorts chips by name", () => {
    expect(cleanCountry(" de ")).toBe("DE");
    expect(cleanCountry("DEU")).toBeNull();
    expect(cleanCountry("1")).toBeNull();
    expect(byCountryName(["US", "DE", "AT"])).toEqual(["AT", "DE", "US"]);
  });
});

describe("time zones", () => {
  it("lists UTC first, then the webview's zones", () => {
    const zones = timeZones();
    expect(zones[0]).toBe("UTC");
    expect(zones).toContain("Europe/Berlin");
    expect(zones).toContain("America/New_York");
    expect(zones.filter((z) => z === "UTC")).toHaveLength(1);
  });

  it("takes the listed spelling of a zone typed in any case", () => {
    expect(normalizeTimeZone("europe/berlin")).toBe("Europe/Berlin");
    expect(normalizeTimeZone(" utc ")).toBe("UTC");
    expect(normalizeTimeZone("Mars/Olympus")).toBe("Mars/Olympus");
  });

  it("says what is wrong with a zone", () => {
    expect(validateTimeZone("Europe/Berlin")).toBeNull();
    // Aliases the list leaves out are still zones.
    expect(validateTimeZone("Etc/UTC")).toBeNull();
    expect(validateTimeZone("")).toMatch(/Choose a time zone/);
    expect(validateTimeZone("Mars/Olympus")).toMatch(/“Mars\/Olympus” is not a time zone/);
    expect(validateTimeZone("berlin")).toMatch(/not a time zone/);
  });

  it("finds zones by city or region", () => {
    expect(searchTimeZones("berlin")).toEqual(["Europe/Berlin"]);
    expect(searchTimeZones("new york")).toContain("America/New_York");
    expect(searchTimeZones("Europe/Ber")[0]).toBe("Europe/Berlin");
    expect(searchTimeZones("utc")[0]).toBe("UTC");
    expect(searchTimeZones("")).toEqual([]);
    expect(searchTimeZones("europe").length).toBe(8);
  });
});
