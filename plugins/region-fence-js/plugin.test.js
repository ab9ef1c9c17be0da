import assert from "node:assert/strict";
import { test } from "node:test";

import { examples, logs, clearLogs, org } from "@tenantry/policy/testing";
import { hooks } from "./plugin.js";

const config = JSON.stringify({ allowed: [["eu-central", "eu-central"], ["eu-central", "us-east"]] });
const link = (from, to) => examples.link({ from: org("acme", { region: from }), to: org("globex", { region: to }) });

test("allowed pairs link in either direction", () => {
  assert.equal(hooks.link(link("eu-central", "us-east"), config).tag, "allow");
  assert.equal(hooks.link(link("us-east", "eu-central"), config).tag, "allow");
});

test("other pairs are denied, and the plugin says why in its log", () => {
  clearLogs();
  assert.deepEqual(hooks.link(link("us-east", "ap-south"), config), {
    tag: "deny",
    val: "links between regions `us-east` and `ap-south` are not allowed",
  });
  assert.deepEqual(logs(), [{ level: "info", message: "2 allowed pair(s), none is (us-east, ap-south)" }]);
});

test("a config without pairs is refused at bind time", () => {
  assert.equal(hooks.checkConfig(config), undefined);
  assert.throws(() => hooks.checkConfig("{}"), (e) => /allowed/.test(e));
  assert.throws(() => hooks.checkConfig('{"allowed": [["eu"]]}'), (e) => /allowed/.test(e));
});

test("only link is implemented", () => {
  assert.deepEqual(hooks.implemented(), ["link"]);
  assert.equal(hooks.authorize(examples.authorize(), config).tag, "abstain");
});
