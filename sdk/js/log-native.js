// The `log` import under node: lines are kept for the test to read (testing.js `logs()`).
export const lines = [];

export function write(level, message) {
  lines.push({ level, message });
}
