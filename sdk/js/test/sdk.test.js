// The SDK's own behaviour under node (`npm test` in sdk/js).
import assert from "node:assert/strict";
import { test } from "node:test";

import { abstain, allow, definePlugin, deny, grant, log, requireApproval } from "../index.js";
import { clearLogs, examples, logs } from "../testing.js";

const plugin = definePlugin({
  name: "same-region",
  version: "1.2.3",
  checkConfig: (config) => (Array.isArray(config.open) ? undefined : "`open` is a list of regions"),
  link(input, config) {
    log.info(`from ${input.from.region}`);
    return input.from.region === input.to.region || config.open.includes(input.from.region)
      ? allow("same region")
      : deny("links stay within a region");
  },
});

test("a plugin names itself and the hooks it implements", () => {
  assert.deepEqual(plugin.metadata(), { name: "same-region", version: "1.2.3" });
  assert.deepEqual(plugin.implemented(), ["link"]);
});

test("hooks get the config parsed and the others abstain", () => {
  const input = examples.link({ to: { ...examples.link().to, region: "eu" } });
  assert.deepEqual(plugin.link(input, '{"open": []}'), deny("links stay within a region"));
  assert.deepEqual(plugin.link(input, '{"open": ["default"]}'), allow("same region"));
  assert.deepEqual(plugin.authorize(examples.authorize(), "{}"), abstain());
  assert.deepEqual(plugin.remoteSupport(examples.remoteSupport(), "{}"), { tag: "abstain" });
});

test("a config is checked as JSON, then by the plugin", () => {
  assert.equal(plugin.checkConfig('{"open": ["eu"]}'), undefined);
  assert.throws(() => plugin.checkConfig("{"), (e) => /config is not JSON/.test(e));
  assert.throws(() => plugin.checkConfig("{}"), (e) => e === "`open` is a list of regions");
});

test("verdicts have the contract's shape", () => {
  assert.deepEqual(grant(30, "ok"), { tag: "grant", val: { minutes: 30, reason: "ok" } });
  assert.deepEqual(requireApproval("ask"), { tag: "require-approval", val: "ask" });
});

test("log lines are kept for the test", () => {
  clearLogs();
  plugin.link(examples.link(), '{"open": []}');
  assert.deepEqual(logs(), [{ level: "info", message: "from default" }]);
});

test("a definition without a name, with an unknown hook, or without hooks is refused", () => {
  assert.throws(() => definePlugin({ version: "1", link: () => allow() }), /name/);
  assert.throws(() => definePlugin({ name: "x", version: "1", lnk: () => allow() }), /unknown hook/);
  assert.throws(() => definePlugin({ name: "x", version: "1" }), /at least one hook/);
});
