// region-fence-js: `region-fence` in JavaScript. Links only between organizations of allowed
// region pairs; config `{"allowed": [["eu-central", "eu-central"], ["eu-central", "us-east"]]}`,
// a pair allows both directions. A config without `allowed` is refused when the plugin is bound.
import { allow, definePlugin, deny, log } from "@tenantry/policy";

export const hooks = definePlugin({
  name: "region-fence-js",
  version: "0.1.0",
  checkConfig(config) {
    const pairs = config.allowed;
    const valid =
      Array.isArray(pairs) &&
      pairs.every((p) => Array.isArray(p) && p.length === 2 && p.every((r) => typeof r === "string"));
    if (!valid) return "`allowed` must be a list of [region, region] pairs";
  },
  link(input, config) {
    const [a, b] = [input.from.region, input.to.region];
    const allowed = config.allowed.some(([x, y]) => (x === a && y === b) || (x === b && y === a));
    if (allowed) return allow(`regions \`${a}\` and \`${b}\` may link`);
    log.info(`${config.allowed.length} allowed pair(s), none is (${a}, ${b})`);
    return deny(`links between regions \`${a}\` and \`${b}\` are not allowed`);
  },
});
