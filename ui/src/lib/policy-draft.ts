// Unsaved Account → Policies edits, kept while the tab or the screen is
// left (for the same account and settings; Save or Discard clears them).
import type { PolicyForm } from "./policies";
import type { AccountView } from "./types";

export type PolicyDraft = { base: AccountView; form: PolicyForm };

let kept: PolicyDraft | null = null;

export const policyDraft = {
  get: (): PolicyDraft | null => kept,
  keep: (d: PolicyDraft | null) => {
    kept = d;
  },
  forget: () => {
    kept = null;
  },
};
