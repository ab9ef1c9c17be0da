#!/usr/bin/env node
// tenantry-policy-build PLUGIN.js -o OUT.wasm
//
// Builds a plugin module into a WebAssembly component of the `tenantry:policy@0.2.0` world
// with componentize-js (SpiderMonkey, pre-initialized by wizer), every WASI feature off: the
// component imports the contract's `log` and nothing else, so tenantry runs it capability-free.
// The plugin's folder is staged with `@tenantry/policy` imports pointed at this package (the
// engine resolves relative imports only); other bare imports need a bundler first.
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { componentize } from "@bytecodealliance/componentize-js";

const here = dirname(fileURLToPath(import.meta.url));
const SDK = "@tenantry/policy";

function usage(message) {
  console.error(`${message}\nusage: tenantry-policy-build PLUGIN.js -o OUT.wasm`);
  process.exit(1);
}

const args = process.argv.slice(2);
const outAt = args.indexOf("-o");
if (outAt < 0 || outAt + 1 >= args.length) usage("-o OUT.wasm is required");
const out = resolve(args[outAt + 1]);
const sources = args.filter((_, i) => i !== outAt && i !== outAt + 1);
if (sources.length !== 1) usage("give exactly one plugin module");
const entry = resolve(sources[0]);
await stat(entry).catch(() => usage(`${entry} does not exist`));

// Stage the plugin's folder (without node_modules) with the SDK beside it.
const stage = await mkdtemp(join(tmpdir(), "tenantry-js-"));
try {
  const root = dirname(entry);
  await cp(root, stage, {
    recursive: true,
    filter: (path) => !path.split(sep).includes("node_modules"),
  });
  const sdkDir = join(stage, "__tenantry_policy");
  await cp(join(here, "index.js"), join(sdkDir, "index.js"));
  for (const file of await modules(stage)) {
    const text = await readFile(file, "utf8");
    const target = relative(dirname(file), join(sdkDir, "index.js")).split(sep).join("/");
    const path = target.startsWith(".") ? target : `./${target}`;
    const staged = text.replace(
      /(from\s*|import\s*\(?\s*)(["'])@tenantry\/policy\2/g,
      (_, lead, quote) => `${lead}${quote}${path}${quote}`,
    );
    if (staged !== text) await writeFile(file, staged);
  }
  const { component } = await componentize({
    sourcePath: join(stage, relative(root, entry)),
    witPath: join(here, "wit"),
    worldName: "plugin",
    disableFeatures: ["stdio", "random", "clocks", "http", "fetch-event"],
  });
  await writeFile(out, component);
  console.log(`${basename(out)}: ${component.byteLength} bytes (tenantry:policy@0.2.0, no WASI imports)`);
} finally {
  await rm(stage, { recursive: true, force: true });
}

/** The JavaScript modules under `dir`. */
async function modules(dir) {
  const found = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) found.push(...(await modules(path)));
    else if (/\.m?js$/.test(e.name)) found.push(path);
  }
  return found;
}
