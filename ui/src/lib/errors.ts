// What to tell a person about a PortalError, and what they can do next.
import { formatSeconds } from "./format";
import { KEY_CAP_NOTE } from "./key-cap";
import type { PortalError } from "./types";

export type NextStep = "retry" | "reconnect" | "connect" | "switch" | "refresh";

export type ErrorAdvice = {
  title: string;
  /** The backend's message (safe to show) with what to do next. */
  detail: string;
  steps: NextStep[];
};

export function adviseError(e: PortalError): ErrorAdvice {
  switch (e.code) {
    case "unreachable":
      return {
        title: "Can't reach the key service",
        detail: `${e.message} Check that the service is running and reachable from this computer, then try again.`,
        steps: ["retry", "switch"],
      };
    case "unauthorized":
      return {
        title: "The service no longer accepts this portal's credential",
        detail: `${e.message} The admin key may have been revoked. Reconnect with a valid admin key.`,
        steps: ["reconnect"],
      };
    case "forbidden":
      return {
        title: "Not allowed",
        detail: `${e.message} The connected credential needs the admin scope.`,
        steps: ["reconnect"],
      };
    case "rate_limited":
      return {
        title: "Too many requests",
        detail: waitNote(e, "Wait a moment, then try again."),
        steps: ["retry"],
      };
    case "not_connected":
      return {
        title: "Not connected to a key service",
        detail: `${e.message} Connect to a service to manage its keys.`,
        steps: ["connect"],
      };
    case "keychain_unavailable":
      return {
        title: "The system keychain is not available",
        detail: e.message,
        steps: ["retry"],
      };
    case "not_found":
      return { title: "Not found", detail: `${e.message} It may have been removed.`, steps: ["refresh"] };
    case "conflict":
      return { title: "That can't be done now", detail: e.message, steps: ["refresh"] };
    case "limit_exceeded":
      return {
        title: "Your plan's limit is reached",
        // The service's message says which limit and what to do.
        detail: `${e.message} ${KEY_CAP_NOTE}`,
        steps: [],
      };
    case "account_suspended":
      return {
        title: "This account is suspended",
        // The service's message carries the operator's reason.
        detail: `${e.message} Nothing was deleted: your keys work again as soon as the provider resumes the account. Contact them to resolve it.`,
        steps: ["retry", "switch"],
      };
    case "response_too_large":
      return {
        title: "The service's answer was too large",
        detail: e.message,
        steps: ["switch"],
      };
    case "invalid":
      return { title: "Please check what you entered", detail: e.message, steps: [] };
    case "internal":
      return { title: "Something went wrong", detail: e.message, steps: ["retry"] };
  }
}

/**
 * The same for the enrollment-code flow: there is no connected credential
 * yet, so "forbidden" is about the code (wrong, used, expired) or a
 * suspended account, and the service's message says which.
 */
export function adviseEnrollError(e: PortalError): ErrorAdvice {
  switch (e.code) {
    case "forbidden":
      return {
        title: "The service did not accept this code",
        detail: `${e.message} If the code was already used or has expired, ask your provider for a new one.`,
        steps: [],
      };
    case "invalid":
      return { title: "Please check the address and the code", detail: e.message, steps: [] };
    case "unreachable":
      return {
        title: "Can't reach the service",
        detail: `${e.message} Check the address, and that the service is running and reachable from here.`,
        steps: ["retry"],
      };
    case "rate_limited":
      return {
        title: "Too many attempts",
        detail: waitNote(e, "Wait a while, then try again."),
        steps: ["retry"],
      };
    default:
      return adviseError(e);
  }
}

/** A 429's detail: with a Retry-After the notice counts down itself, else say to wait. */
function waitNote(e: PortalError, wait: string): string {
  return e.retry_after !== null ? e.message : `${e.message} ${wait}`;
}

/** Short one-liner for toasts. */
export function errorLine(e: PortalError): string {
  const a = adviseError(e);
  return e.code === "rate_limited" && e.retry_after !== null
    ? `${a.title}: try again in ${formatSeconds(e.retry_after)}.`
    : `${a.title}. ${e.message}`;
}
