import { describe, expect, it } from "vitest";
import { NOTIFY_KINDS, notifyChanged, notifyForm, notifyPrefsOf, quietSummary } from "./notify-prefs";
import type { NotifyPrefs } from "./types";

const none: NotifyPrefs = { muted: [], quiet_hours: null };

describe("notification preferences", () => {
  it("offers the five anomalies, the two rotation reminders, failing webhooks and keys found public", () => {
    expect(NOTIFY_KINDS).toEqual([
      "volume_spike",
      "error_spike",
      "new_country",
      "after_hours",
      "unusual_endpoint",
      "rotation_due_soon",
      "rotation_overdue",
      "webhook_failing",
      "leak_reported",
    ]);
  });

  it("round-trips: pushed kinds, quiet hours, and muted kinds this screen does not show", () => {
    const saved: NotifyPrefs = { muted: ["after_hours", "key_expiring"], quiet_hours: { start: "22:00", end: "07:00" } };
    const f = notifyForm(saved);
    expect(f.push.after_hours).toBe(false);
    expect(f.push.volume_spike).toBe(true);
    expect(f.otherMuted).toEqual(["key_expiring"]);
    expect(notifyPrefsOf(f).prefs).toEqual(saved);
    expect(notifyChanged(f, saved)).toBe(false);
    f.push.rotation_overdue = false;
    expect(notifyPrefsOf(f).prefs?.muted).toEqual(["after_hours", "key_expiring", "rotation_overdue"]);
    expect(notifyChanged(f, saved)).toBe(true);
  });

  it("quiet hours: both or neither, HH:MM, different", () => {
    const f = notifyForm(none);
    expect(notifyPrefsOf(f).prefs).toEqual(none);
    f.quietStart = "22:00";
    expect(notifyPrefsOf(f).errors).toEqual({ end: "Enter when quiet hours end, or clear both times." });
    f.quietEnd = "7:00";
    expect(notifyPrefsOf(f).prefs).toEqual({ muted: [], quiet_hours: { start: "22:00", end: "07:00" } });
    f.quietEnd = "25:00";
    expect(notifyPrefsOf(f).errors.end).toBe("Use HH:MM, e.g. 07:00.");
    f.quietEnd = "22:00";
    expect(notifyPrefsOf(f).errors.end).toBe("Quiet hours need different start and end times.");
    f.quietStart = "";
    f.quietEnd = "07:00";
    expect(notifyPrefsOf(f).errors.start).toBe("Enter when quiet hours start, or clear both times.");
    expect(notifyChanged(f, none)).toBe(true);
  });

  it("says when quiet hours are", () => {
    const f = notifyForm(none);
    expect(quietSummary(f)).toMatch(/No quiet hours/);
    f.quietStart = "22:00";
    f.quietEnd = "07:00";
    expect(quietSummary(f)).toMatch(/from 22:00 to 07:00 \(overnight\)/);
    f.quietStart = "12:00";
    f.quietEnd = "13:00";
    expect(quietSummary(f)).not.toMatch(/overnight/);
  });
});
