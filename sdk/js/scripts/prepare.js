// Run by `npm install` / `npm ci` in this folder: the contract's WIT beside the package (from
// sdk/wit, the one source of truth) and TypeScript types generated from it into types/.
import { execFileSync } from "node:child_process";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
await mkdir(join(pkg, "wit"), { recursive: true });
await copyFile(join(pkg, "..", "wit", "policy.wit"), join(pkg, "wit", "policy.wit")).catch((e) => {
  // A published package carries wit/ already.
  if (e.code !== "ENOENT") throw e;
});
// jco reads the WIT through a sandbox rooted at the working directory: give it relative paths.
execFileSync(
  process.execPath,
  [jco(), "guest-types", "wit", "--world-name", "plugin", "-o", "types", "-q"],
  { cwd: pkg, stdio: "inherit" },
);

function jco() {
  const require = createRequire(join(pkg, "package.json"));
  // The package exports its API (src/api.js); its command line is beside it.
  return join(dirname(require.resolve("@bytecodealliance/jco")), "jco.js");
}
