// Drives the web console in Chromium through the seed stories, saves a screenshot of every
// screen, and checks each with axe-core. Run by the end-to-end test `console::in_chromium`
// against a real server:
//   node console.mjs <base url> <screenshot dir>
// with, in the environment, TENANTRY_PASSWORD (every account's), TENANTRY_OWNER_EMAIL and
// TENANTRY_ORG_ID (a customer's owner), TENANTRY_PEER_EMAIL and TENANTRY_PEER_ORG_ID (another
// customer's owner), TENANTRY_PROVIDER_EMAIL and TENANTRY_PROVIDER_ORG_ID (their provider's
// owner and organization), TENANTRY_PLUGIN_PATH (a Wasm component implementing `link`), and
// CHROMIUM the browser's path. Prints one line per screen; exits 1 on the first failure.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, shots] = process.argv.slice(2);
const env = process.env;
const password = env.TENANTRY_PASSWORD;
const org = env.TENANTRY_ORG_ID;
const peer = env.TENANTRY_PEER_ORG_ID;
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const browser = await chromium.launch({
  executablePath: env.CHROMIUM ?? "/usr/bin/chromium",
  // Root in CI has no user namespaces for Chromium's sandbox.
  args: ["--no-sandbox"],
});

function fail(message) {
  throw new Error(message);
}

/** A window of its own (its own cookies) for one person. */
async function person() {
  // axe is injected by the test, which the pages' CSP (no script at all) would refuse.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1100, height: 750 } });
  return context.newPage();
}

/** Saves the screen and fails on any serious or critical accessibility violation. */
async function screen(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  await page.evaluate(axeSource);
  const { violations } = await page.evaluate(() => globalThis.axe.run(document));
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  console.log(JSON.stringify({ screen: name, url: page.url(), violations: violations.length, serious: bad.length }));
  if (bad.length > 0) {
    fail(`${name}: ${bad.map((v) => `${v.id} (${v.impact}): ${v.help}`).join("; ")}`);
  }
}

async function expectText(page, text) {
  const body = await page.textContent("body");
  if (!body.includes(text)) fail(`expected "${text}" on ${page.url()}, got: ${body}`);
}

/** Clicks the submit button of the form holding `field`. */
async function submit(page, field) {
  await page.click(`form:has(${field}) button[type=submit]`);
}

async function signIn(page, email) {
  await page.goto(`${base}/console/sign-in`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await submit(page, "#email");
  await page.waitForURL(`${base}/console`);
}

async function signOut(page) {
  await page.click("header button");
  await page.waitForURL(`${base}/console/sign-in`);
}

try {
  // 1. The owner signs in (a wrong password first) and invites an admin.
  const owner = await person();
  await owner.goto(`${base}/console`);
  if (!owner.url().endsWith("/console/sign-in")) fail(`not sent to sign in: ${owner.url()}`);
  await screen(owner, "sign-in");
  await owner.fill("#email", env.TENANTRY_OWNER_EMAIL);
  await owner.fill("#password", "not the password");
  await submit(owner, "#email");
  await expectText(owner, "Wrong e-mail address or password.");
  await screen(owner, "sign-in-refused");
  await owner.fill("#password", password);
  await submit(owner, "#email");
  await owner.waitForURL(`${base}/console`);
  await screen(owner, "organizations");

  await owner.click(`a[href="/console/orgs/${org}"]`);
  await expectText(owner, "Overview");
  await screen(owner, "organization");
  await owner.fill("#name", "Ada");
  await owner.fill("#invite-email", "ada@browser.example");
  await owner.selectOption("#role", "admin");
  await submit(owner, "#invite-email");
  await expectText(owner, "Ada is invited.");
  const token = (await owner.textContent(".notice code")).trim();
  if (!token.startsWith("inv_")) fail(`no invitation token shown: ${token}`);
  await screen(owner, "member-invited");

  // 2. Ada accepts in the console, sets her password, signs in: as an admin she is offered
  //    member invitations only.
  const ada = await person();
  await ada.goto(`${base}/console/accept`);
  await screen(ada, "accept-invitation");
  await ada.fill("#token", token);
  await ada.fill("#new-password", "Ada's own long password");
  await ada.fill("#repeat-password", "Ada's own long password");
  await submit(ada, "#token");
  await expectText(ada, "Welcome, Ada: your password is set.");
  await screen(ada, "password-set");
  await ada.fill("#password", "Ada's own long password");
  await submit(ada, "#email");
  await ada.waitForURL(`${base}/console`);
  await ada.click(`a[href="/console/orgs/${org}"]`);
  const roles = await ada.$$eval("#role option", (options) => options.map((o) => o.value));
  if (roles.join() !== "member") fail(`an admin is offered roles ${roles}`);
  await screen(ada, "members-as-admin");

  // 3. Organization Connect: the owner links to the peer, the peer accepts; the owner creates
  //    a team and shares it; the peer sees it received.
  await owner.goto(`${base}/console/orgs/${org}/connect`);
  await screen(owner, "connect");
  await owner.fill("#target", peer);
  await submit(owner, "#target");
  await expectText(owner, "Link request sent to");
  await screen(owner, "link-sent");

  const peerOwner = await person();
  await signIn(peerOwner, env.TENANTRY_PEER_EMAIL);
  await peerOwner.goto(`${base}/console/orgs/${peer}/connect`);
  await peerOwner.click(`form[action$="/accept"] button`);
  await expectText(peerOwner, "is active.");
  await screen(peerOwner, "link-accepted");

  await owner.goto(`${base}/console/orgs/${org}`);
  await owner.fill("#team-name", "Night shift");
  await submit(owner, "#team-name");
  await expectText(owner, "Team Night shift created.");
  await owner.goto(`${base}/console/orgs/${org}/connect`);
  await submit(owner, "#share-resource");
  await expectText(owner, "Night shift is shared.");
  await screen(owner, "shared");

  await peerOwner.goto(`${base}/console/orgs/${peer}/connect`);
  const received = await peerOwner.textContent("section[aria-labelledby=received]");
  if (!received.includes("Night shift")) fail(`not received: ${received}`);
  await screen(peerOwner, "received");

  // 4. Remote support: the provider asks, the owner approves in the inbox, then revokes.
  const provider = await person();
  await signIn(provider, env.TENANTRY_PROVIDER_EMAIL);
  await provider.goto(`${base}/console/orgs/${env.TENANTRY_PROVIDER_ORG_ID}/customers`);
  await expectText(provider, "Beta Logistics");
  await screen(provider, "customers");
  await provider.fill("#tenant-id", "Not A Tenant!");
  await provider.fill("#country", "Germany");
  await provider.fill("#currency", "EUR");
  await provider.fill("#customer-name", " ");
  await submit(provider, "#tenant-id");
  await expectText(provider, "organization is invalid");
  await screen(provider, "customer-invalid");
  await provider.goto(`${base}/console/orgs/${org}/remote-support`);
  await provider.fill("#reason", "ticket 4711: calls drop after 30 s");
  await provider.fill("#minutes", "60");
  await submit(provider, "#reason");
  await expectText(provider, "Remote support request sent: pending");
  await screen(provider, "support-requested");

  await owner.goto(`${base}/console/orgs/${org}/remote-support`);
  await screen(owner, "support-inbox");
  await owner.click(`form[action$="/approve"] button`);
  await expectText(owner, "granted, 60 min left");
  await screen(owner, "support-granted");
  await owner.click(`form[action$="/revoke"] button`);
  await expectText(owner, "The request is revoked.");
  await owner.click("details summary");
  await screen(owner, "support-revoked");

  // 5. The policy playground: bind the starter as version 1, then a candidate that freezes
  //    teams: dry run, preview, bind as version 2, roll back to version 1.
  await owner.click('nav.tabs a[href$="/policies/authorize"]');
  await screen(owner, "playground");
  await owner.click('button[value="bind"]');
  await expectText(owner, "Version 1 is bound and active.");
  await owner.fill(
    "#source",
    'fn authorize(input) {\n    if input.action == "team.create" {\n        return deny("no new teams this quarter");\n    }\n    abstain()\n}\n',
  );
  await owner.fill("#action", "team.create");
  await owner.click('button[value="dry-run"]');
  await expectText(owner, "Dry run: deny");
  await screen(owner, "playground-dry-run");
  await owner.click('button[value="preview"]');
  await expectText(owner, "recorded decisions would change");
  await screen(owner, "playground-preview");
  await owner.click('button[value="bind"]');
  await expectText(owner, "Version 2 is bound and active.");
  await owner.click('form[action$="/rollback/1"] button');
  await expectText(owner, "Version 1 is active again.");
  await screen(owner, "playground-rolled-back");

  // 6. The provider runs its customers: a plan of its own; it asks to manage the customer,
  //    whose owner consents on the overview; its layer over all customers gets a plugin,
  //    uploaded and bound with a config.
  const providerOrg = env.TENANTRY_PROVIDER_ORG_ID;
  await provider.goto(`${base}/console/orgs/${providerOrg}/plans`);
  await provider.fill("#new-name", "Gold");
  await provider.fill("#new-max_members", "100");
  await provider.fill("#new-max_teams", "10");
  await provider.fill("#new-max_active_links", "2");
  await provider.fill("#new-max_remote_support_minutes", "60");
  await submit(provider, "#new-name");
  await expectText(provider, "Gold is created.");
  await screen(provider, "plans");

  await provider.goto(`${base}/console/orgs/${org}`);
  await provider.click("summary:has-text('Manage it as its service provider')");
  await provider.selectOption("#demote-to", "admin");
  await submit(provider, "#demote-to");
  await expectText(provider, "The customer's owner is asked");
  await screen(provider, "managed-by-asked");

  await owner.goto(`${base}/console/orgs/${org}`);
  await expectText(owner, "Changes the service provider asked for");
  await screen(owner, "change-request");
  await owner.click('form[action$="/accept"] button');
  await expectText(owner, "Consented");
  await screen(owner, "change-consented");

  await provider.goto(`${base}/console/orgs/${providerOrg}/policies/link?layer=customers`);
  await expectText(provider, "Versions of its customers'");
  await screen(provider, "playground-customers");
  await provider.setInputFiles("#component", env.TENANTRY_PLUGIN_PATH);
  await submit(provider, "#component");
  await expectText(provider, "Uploaded: SHA-256");
  await provider.fill("#config", '{"allowed": [["eu-central", "eu-central"]]}');
  await submit(provider, "#config");
  await expectText(provider, "(the plugin) is bound and active.");
  await screen(provider, "plugin-bound");

  // 7. The owner's sessions (the peer's and the provider's windows are other people's).
  await owner.click('a[href="/console/sessions"]');
  await expectText(owner, "this session");
  await screen(owner, "sessions");

  await signOut(owner);
  await owner.goto(`${base}/console`);
  if (!owner.url().endsWith("/console/sign-in")) fail("still signed in after signing out");
  console.log(JSON.stringify({ story: "done" }));
} catch (error) {
  console.error(String(error?.stack ?? error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
