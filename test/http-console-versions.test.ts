import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAS_CHROMIUM, launchChromium } from "./helpers/chromium.js";
import { bearer, json, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/**
 * The console's scope tabs (Session, Mine, Shared) and an artifact's version list with download
 * and restore, in a real headless Chromium against a real `serve` on a folder. Screenshots of each
 * state are kept in test-results/console-versions/. Needs /usr/bin/chromium (apt package chromium).
 */

const SHOTS = resolve(import.meta.dirname, "../test-results/console-versions");

describe.skipIf(!HAS_CHROMIUM)("web console: scopes and versions in Chromium", () => {
  let dir: string;
  let server: RunningServer;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "chuk-console-versions-"));
    server = await startServer({ cwd: dir, env: KEY_ENV });
    browser = await launchChromium(SHOTS);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function connected(key: string): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${server.url}/`);
    await page.fill("#key", key);
    await page.click("#login button");
    await page.waitForSelector("#main:not([hidden])");
    return page;
  }
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const rowNames = (page: Page) => page.locator("#rows td.name button").allTextContents();
  /** Waits for the table to list exactly these names: a tab's rows stay until its own list arrives. */
  const showsRows = (page: Page, names: string[]) =>
    page.waitForFunction(
      (want) =>
        JSON.stringify(
          Array.from(document.querySelectorAll("#rows td.name button"), (b) => b.textContent),
        ) === JSON.stringify(want),
      names,
    );
  const raw = async (key: string, query: string, body: string, mime = "text/plain") => {
    const res = await fetch(`${server.url}/v1/artifacts?${query}`, {
      method: "POST",
      headers: bearer(key, { "content-type": mime }),
      body,
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { artifactId: string }).artifactId;
  };
  const replace = async (key: string, id: string, body: string) => {
    const res = await fetch(`${server.url}/v1/artifacts/${id}`, {
      method: "PUT",
      headers: bearer(key, { "content-type": "text/plain" }),
      body,
    });
    expect(res.status).toBe(200);
  };
  const drop = async (page: Page, name: string, text: string) => {
    const transfer = await page.evaluateHandle(
      ([n, t]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([t!], n!, { type: "text/plain" }));
        return dt;
      },
      [name, text],
    );
    await page.dispatchEvent("#drop", "drop", { dataTransfer: transfer });
  };

  it("lists a file's versions, downloads an old one and restores it as a new version", async () => {
    const draft = await raw(KEYS.alice, "filename=draft.txt", "first draft");
    await replace(KEYS.alice, draft, "second draft");
    await replace(KEYS.alice, draft, "third draft, final");

    const page = await connected(KEYS.alice);
    expect(await page.getAttribute("#tab-session", "aria-selected")).toBe("true");
    await showsRows(page, ["draft.txt"]);
    await page.click("#rows button.link");
    await page.waitForFunction(() => document.querySelectorAll("#versions li").length === 3);
    await page.waitForSelector("#preview pre");
    const versions = () => page.locator("#versions li").evaluateAll((li) => li.map((x) => x.textContent));
    const listed = await versions();
    expect(listed[0]).toMatch(/^v3.*current$/);
    expect(listed.slice(1).map((t) => t!.slice(0, 2))).toEqual(["v2", "v1"]);
    expect(await page.locator('#versions li[data-version="3"] button').count()).toBe(0); // the current one
    expect(await page.textContent("#preview pre")).toBe("third draft, final");
    await page.locator("#detail").screenshot({ path: join(SHOTS, "01-version-list.png") });

    // An earlier version downloads with its own bytes.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click('#versions li[data-version="1"] button:text("Download")'),
    ]);
    expect(download.suggestedFilename()).toBe("draft.v1.txt");
    expect(await readFile((await download.path())!, "utf8")).toBe("first draft");

    // Restoring version 1 makes version 4 with its content.
    await page.click('#versions li[data-version="1"] button:text("Restore")');
    await page.waitForFunction(() => document.querySelectorAll("#versions li").length === 4);
    await page.waitForFunction(() => document.querySelector("#preview pre")?.textContent === "first draft");
    expect((await versions())[0]).toMatch(/^v4.*current$/);
    expect(await page.textContent("#status")).toBe("Restored version 1 of draft.txt as version 4");
    const facts = await page.locator("#facts").textContent();
    expect(facts).toContain("Version4");
    expect(facts).toContain("Scopesession");
    const stored = await json(`${server.url}/v1/artifacts/${draft}/metadata`, "GET", KEYS.alice);
    expect(stored.body).toMatchObject({ version: 4, bytes: "first draft".length });
    await shot(page, "02-restored");
    expect(problems).toEqual([]);
  });

  it("shows the session, the user's own files and the shared files on three tabs", async () => {
    const template = await raw(
      KEYS.admin,
      "scope=sandbox&filename=template.md",
      "# Template",
      "text/markdown",
    );
    const page = await connected(KEYS.alice);

    await page.click("#tab-user");
    await page.waitForSelector("#empty:not([hidden])");
    expect(await page.getAttribute("#tab-user", "aria-selected")).toBe("true");
    expect(await page.textContent("#empty")).toContain("No files of your own yet");
    await shot(page, "03-mine-empty");

    // A file dropped on Mine is the user's own, kept across sessions.
    await drop(page, "profile.txt", "likes: tea");
    await showsRows(page, ["profile.txt"]);
    expect(await rowNames(page)).toEqual(["profile.txt"]);
    const mine = await json(`${server.url}/v1/artifacts?scope=user`, "GET", KEYS.alice);
    expect(mine.body.items.map((m: { filename: string; scope: string }) => [m.filename, m.scope])).toEqual([
      ["profile.txt", "user"],
    ]);
    await page.click("#rows button.link");
    await page.waitForSelector("#versions li");
    expect(await page.locator("#facts").textContent()).toContain("Scopemine (alice)");
    await shot(page, "04-mine");

    // Shared: the admin's file, read only for alice (no drop zone).
    await page.click("#tab-sandbox");
    await showsRows(page, ["template.md"]);
    expect(await rowNames(page)).toEqual(["template.md"]);
    expect(await page.isHidden("#drop")).toBe(true);
    expect(await page.textContent("#scope-note")).toContain("read only");
    expect(await page.getAttribute("#rows tr", "data-id")).toBe(template);
    expect(await page.locator("#rows tr button.danger").count()).toBe(0); // nothing to delete
    await page.click("#rows button.link");
    await page.waitForSelector("#versions li");
    expect(await page.isHidden("#edit")).toBe(true); // nor to edit
    await shot(page, "05-shared");

    // Back on Session: only the session's file, the drop zone back.
    await page.click("#tab-session");
    await showsRows(page, ["draft.txt"]);
    expect(await rowNames(page)).toEqual(["draft.txt"]);
    expect(await page.isVisible("#drop")).toBe(true);

    // Another user sees the shared file but not alice's own ones.
    const bob = await connected(KEYS.bob);
    await bob.click("#tab-user");
    await bob.waitForSelector("#empty:not([hidden])");
    await bob.click("#tab-sandbox");
    await showsRows(bob, ["template.md"]);
    expect(await rowNames(bob)).toEqual(["template.md"]);
    expect(problems).toEqual([]);
  });
});
