import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gradientPng } from "./helpers/documents.js";
import { bearer, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/**
 * The console's usage line and its filter box as a search, in a real headless Chromium against a
 * real `serve --quota-user-bytes`. Screenshots go to test-results/console-search/ to be looked at.
 */

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = resolve(import.meta.dirname, "../test-results/console-search");

describe.skipIf(!existsSync(CHROMIUM))("console usage and search in Chromium", () => {
  let dir: string;
  let server: RunningServer;
  let browser: Browser;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "chuk-console-search-"));
    await rm(SHOTS, { recursive: true, force: true });
    await mkdir(SHOTS, { recursive: true });
    server = await startServer({ cwd: dir, env: KEY_ENV, args: ["--quota-user-bytes", "100000"] });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const upload = async (body: Uint8Array | string, query: string, type: string) => {
    const res = await fetch(`${server.url}/v1/artifacts?${query}`, {
      method: "POST",
      headers: bearer(KEYS.alice, { "content-type": type }),
      body: typeof body === "string" ? body : new Uint8Array(body),
    });
    expect(res.status).toBe(201);
  };

  it("shows the user's usage against the quota and searches by type, glob, meta and words", async () => {
    const png = gradientPng(64, 48);
    await upload(png, "filename=img/chart.png", "image/png");
    await upload(
      "q1 numbers",
      `filename=reports/q1.txt&meta=${encodeURIComponent('{"team":"red"}')}`,
      "text/plain",
    );
    await upload(
      "q2 numbers",
      `filename=reports/q2.txt&summary=${encodeURIComponent("quarterly summary")}`,
      "text/plain",
    );
    const bytes = png.byteLength + 20;

    const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${server.url}/`);
    await page.fill("#key", KEYS.alice);
    await page.click("#login button");
    await page.waitForSelector("#usage:not([hidden])");
    // As the console writes sizes: bytes below 1 KiB, else one decimal below 10 of a unit.
    const human = (n: number) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(n / 1024 < 10 ? 1 : 0)} KB`);
    expect(await page.textContent("#usage")).toBe(`Using ${human(bytes)} of ${human(100000)}, 3 files`);

    const names = () => page.locator("#rows td.name button").allTextContents();
    const searchFor = async (text: string, expected: string[]) => {
      await page.fill("#filter", text);
      await expect.poll(async () => (await names()).sort()).toEqual(expected);
    };
    await searchFor("image/*", ["img/chart.png"]);
    await page.screenshot({ path: join(SHOTS, "1-search-image.png"), fullPage: true });
    await searchFor("reports/*.txt", ["reports/q1.txt", "reports/q2.txt"]);
    await searchFor("team=red", ["reports/q1.txt"]);
    await searchFor("quarterly", ["reports/q2.txt"]);
    expect(await page.textContent("#count")).toBe("1 of 3 files match");
    await page.screenshot({ path: join(SHOTS, "2-search-words.png"), fullPage: true });
    await searchFor("nothing-like-this", []);
    expect(await page.textContent("#empty")).toBe("No file matches the search.");
    await searchFor("", ["img/chart.png", "reports/q1.txt", "reports/q2.txt"]);
    expect(problems).toEqual([]);
  });
});
