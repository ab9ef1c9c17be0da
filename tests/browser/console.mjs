// Drives the web console in Chromium through a seed story, saves a screenshot of every screen,
// and checks each with axe-core. Run by the end-to-end test `console::in_chromium` against a
// real server:
//   node console.mjs <base url> <screenshot dir>
// with TENANTRY_OWNER_EMAIL, TENANTRY_OWNER_PASSWORD and TENANTRY_ORG_ID of a signed-up owner,
// and CHROMIUM the browser's path. Prints one line per screen; exits 1 on the first failure.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, shots] = process.argv.slice(2);
const { TENANTRY_OWNER_EMAIL: email, TENANTRY_OWNER_PASSWORD: password, TENANTRY_ORG_ID: org } =
  process.env;
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // Root in CI has no user namespaces for Chromium's sandbox.
  args: ["--no-sandbox"],
});
// axe is injected by the test, which the pages' CSP (no script at all) would refuse.
const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1100, height: 750 } });
const page = await context.newPage();

function fail(message) {
  throw new Error(message);
}

/** Saves the screen and fails on any serious or critical accessibility violation. */
async function screen(name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  await page.evaluate(axeSource);
  const { violations } = await page.evaluate(() => globalThis.axe.run(document));
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  console.log(JSON.stringify({ screen: name, url: page.url(), violations: violations.length, serious: bad.length }));
  if (bad.length > 0) {
    fail(`${name}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help}`).join("; ")}`);
  }
}

async function expectText(text) {
  const body = await page.textContent("body");
  if (!body.includes(text)) fail(`expected "${text}" on ${page.url()}, got: ${body}`);
}

try {
  await page.goto(`${base}/console`);
  if (!page.url().endsWith("/console/sign-in")) fail(`not sent to sign in: ${page.url()}`);
  await screen("sign-in");

  await page.fill("#email", email);
  await page.fill("#password", "not the password");
  await page.click("button[type=submit]");
  await expectText("Wrong e-mail address or password.");
  await screen("sign-in-refused");

  await page.fill("#password", password);
  await page.click("main button[type=submit]");
  await page.waitForURL(`${base}/console`);
  await screen("organizations");

  await page.click(`a[href="/console/orgs/${org}"]`);
  await expectText("Overview");
  await screen("organization");

  await page.fill("#name", "Ada");
  await page.fill("#invite-email", "ada@browser.example");
  await page.selectOption("#role", "admin");
  await page.click("main form button[type=submit]");
  await expectText("Ada is invited.");
  await expectText("inv_");
  await screen("member-invited");

  await page.click("header button");
  await page.waitForURL(`${base}/console/sign-in`);
  await page.goto(`${base}/console`);
  if (!page.url().endsWith("/console/sign-in")) fail("still signed in after signing out");
  console.log(JSON.stringify({ story: "done" }));
} catch (error) {
  console.error(String(error?.stack ?? error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
