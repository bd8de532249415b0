// DEV ONLY (the mock backend). The handler table: one handler for every
// command api.ts can invoke (see ../commands.ts), and the dispatch the mock's
// `mockInvoke` goes through.
import type { CommandArgs, CommandName, CommandResult, Handler, Handlers } from "../commands";
import type { MockState } from "../state";
import { accountHandlers } from "./account";
import { connectionHandlers } from "./connection";
import { keyHandlers } from "./keys";
import { restrictionHandlers } from "./restrictions";
import { rotationHandlers } from "./rotation";
import { webhookHandlers } from "./webhooks";

export const handlers: Handlers = {
  ...accountHandlers,
  ...keyHandlers,
  ...restrictionHandlers,
  ...rotationHandlers,
  ...webhookHandlers,
  ...connectionHandlers,
};

/** Commands answered by the portal itself: they work whatever state the service is in. */
const PORTAL_ONLY: ReadonlySet<CommandName> = new Set<CommandName>([
  "portal_status",
  "plan_table",
  "replacement_info",
  "copy_secret",
  "startup_ready",
  "connect_remote",
  "use_service",
  "sign_out",
  "enrollment_preview",
  "enroll",
  "take_enroll_link",
]);

export function isCommand(cmd: string): cmd is CommandName {
  return Object.hasOwn(handlers, cmd);
}

function run<C extends CommandName>(s: MockState, cmd: C, args: CommandArgs<C>): CommandResult<C> {
  // The scenario's fault (unreachable, unauthorized, disconnected), unless the
  // portal has since enrolled into another service.
  if (!PORTAL_ONLY.has(cmd) && s.spec.fault && !s.enrollment.service) throw { ...s.spec.fault };
  const handler: Handler<C> = handlers[cmd];
  return handler(args, s);
}

/**
 * Runs `cmd` with what the UI sent. Rejects like Tauri: a PortalError, or a
 * plain string for a command that does not exist.
 */
export function dispatch(s: MockState, cmd: string, args: Record<string, unknown>): unknown {
  if (!isCommand(cmd)) throw `command ${cmd} not found`;
  return run(s, cmd, args as CommandArgs<typeof cmd>);
}
