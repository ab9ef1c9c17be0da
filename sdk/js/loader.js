// Resolves the contract's imports to their native stand-ins (see register.js).
const NATIVE = {
  "tenantry:policy/log@0.2.0": new URL("./log-native.js", import.meta.url).href,
};

export async function resolve(specifier, context, next) {
  const url = NATIVE[specifier];
  return url ? { url, shortCircuit: true } : next(specifier, context);
}
