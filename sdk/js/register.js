// `node --import @tenantry/policy/register --test`: lets a plugin's module load under node for
// its unit tests, with the contract's `log` import answered by testing.js instead of the host.
import { register } from "node:module";

register("./loader.js", import.meta.url);
