// @tenantry/policy: write tenantry policy plugins in JavaScript.
//
// A plugin is one ES module that exports `hooks = definePlugin({...})`. `build.js` turns it
// into a WebAssembly component implementing the `tenantry:policy@0.2.0` world (wit/policy.wit)
// with componentize-js, importing nothing but the contract: no clock, randomness, files or
// network, exactly like a capability-free Rust plugin.
//
// Inputs are the contract's records as componentize-js gives them: fields in camelCase
// (`input.fromActiveLinks`, `input.actor.providerRole`), closed sets as their WIT names
// (`"service-provider"`, `"remote-support"`), absent options as `undefined`. The same module
// runs under node for unit tests, where `log` prints instead (see testing.js).

import { write } from "tenantry:policy/log@0.2.0";

/** The hooks by the name a plugin implements them under, and their WIT names. */
const HOOKS = {
  authorize: "authorize",
  link: "link",
  share: "share",
  remoteSupport: "remote-support",
};

export const allow = (reason = "") => ({ tag: "allow", val: String(reason) });
export const deny = (reason = "") => ({ tag: "deny", val: String(reason) });
export const abstain = () => ({ tag: "abstain" });
/** `remoteSupport` only: access for at most `minutes`. */
export const grant = (minutes, reason = "") => ({
  tag: "grant",
  val: { minutes, reason: String(reason) },
});
/** `remoteSupport` only. */
export const requireApproval = (reason = "") => ({
  tag: "require-approval",
  val: String(reason),
});

/** Lines that appear in the decision's trace and the decision log (the host bounds them). */
export const log = {
  debug: (message) => write("debug", String(message)),
  info: (message) => write("info", String(message)),
  warn: (message) => write("warn", String(message)),
  error: (message) => write("error", String(message)),
};

/** A config as bound: JSON text, `{}` when none was given. */
function parseConfig(text) {
  return text === "" ? {} : JSON.parse(text);
}

/**
 * The `hooks` export of a plugin: `name` and `version` (shown by `GET /v1/plugins` and
 * `tenantry plugin check`), any of `authorize`, `link`, `share`, `remoteSupport` as
 * `(input, config) => verdict`, and optionally `checkConfig(config)` returning why a config
 * is refused (asked when the plugin is bound, so a bad config is a 422 then, not a deny on
 * every call). A hook that throws counts as deny for its layer (fail closed).
 */
export function definePlugin({ name, version, checkConfig, ...hooks }) {
  if (typeof name !== "string" || name === "" || typeof version !== "string" || version === "") {
    throw new TypeError("definePlugin needs a `name` and a `version` (strings)");
  }
  const unknown = Object.keys(hooks).filter((k) => !(k in HOOKS));
  if (unknown.length > 0) {
    throw new TypeError(
      `definePlugin: unknown hook(s) ${unknown.join(", ")}; the hooks are ${Object.keys(HOOKS).join(", ")}`,
    );
  }
  const implemented = Object.keys(HOOKS).filter((k) => typeof hooks[k] === "function");
  if (implemented.length === 0) {
    throw new TypeError("definePlugin: implement at least one hook");
  }
  const exported = {
    metadata: () => ({ name, version }),
    implemented: () => implemented.map((k) => HOOKS[k]),
    checkConfig(text) {
      let config;
      try {
        config = parseConfig(text);
      } catch (e) {
        throw `config is not JSON: ${e.message}`;
      }
      const why = checkConfig ? checkConfig(config) : undefined;
      if (why) {
        throw String(why);
      }
    },
  };
  for (const [key, wit] of Object.entries(HOOKS)) {
    const hook = hooks[key];
    exported[key] = hook
      ? (input, config) => hook(input, parseConfig(config))
      : () => abstain();
  }
  return exported;
}
