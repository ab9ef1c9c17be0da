// Types of @tenantry/policy. The contract's records (`LinkInput`, `Org`, `Verdict`, ...) are
// generated from wit/policy.wit into types/ by `npm install` (scripts/prepare.js).
/// <reference path="./types/plugin.d.ts" />

import type {
  AuthorizeInput,
  LinkInput,
  RemoteSupportInput,
  ShareInput,
  Verdict,
} from "tenantry:policy/types@0.2.0";

export type * from "tenantry:policy/types@0.2.0";

export function allow(reason?: string): Verdict;
export function deny(reason?: string): Verdict;
export function abstain(): Verdict;
/** `remoteSupport` only: access for at most `minutes`. */
export function grant(minutes: number, reason?: string): Verdict;
/** `remoteSupport` only. */
export function requireApproval(reason?: string): Verdict;

/** Lines that appear in the decision's trace and the decision log. */
export const log: {
  debug(message: unknown): void;
  info(message: unknown): void;
  warn(message: unknown): void;
  error(message: unknown): void;
};

/** A plugin's definition; `Config` is its parsed configuration (the JSON it was bound with). */
export interface PluginDefinition<Config = Record<string, unknown>> {
  name: string;
  version: string;
  /** Why a config is refused (asked at bind time), or nothing when it is fine. */
  checkConfig?(config: Config): string | undefined | void;
  authorize?(input: AuthorizeInput, config: Config): Verdict;
  link?(input: LinkInput, config: Config): Verdict;
  share?(input: ShareInput, config: Config): Verdict;
  remoteSupport?(input: RemoteSupportInput, config: Config): Verdict;
}

/** The `hooks` export of the `tenantry:policy@0.2.0` world: configs as JSON text. */
export type Hooks = typeof import("tenantry:policy/hooks@0.2.0");

export function definePlugin<Config = Record<string, unknown>>(
  definition: PluginDefinition<Config>,
): Hooks;
