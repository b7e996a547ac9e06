import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { json, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/**
 * The web console in a real headless Chromium against a real server: connect with a key, upload
 * through a presigned URL, list, download, delete. Needs /usr/bin/chromium (apt package chromium).
 */

const CHROMIUM = "/usr/bin/chromium";
if (!existsSync(CHROMIUM))
  console.warn(`\n*** ${CHROMIUM} not found: the web console browser test is NOT run ***\n`);

describe.skipIf(!existsSync(CHROMIUM))("web console in Chromium", () => {
  let server: RunningServer;
  let browser: import("playwright-core").Browser;

  beforeAll(async () => {
    server = await startServer({ args: ["--provider", "memory"], env: KEY_ENV });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("refuses a wrong key, then connects, uploads, downloads and deletes", async () => {
    const page = await browser.newPage({ acceptDownloads: true });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => m.type() === "error" && !m.text().includes("401") && errors.push(m.text()));
    await page.goto(`${server.url}/`);

    await page.fill("#key", "wrong-key-0000000000000000");
    await page.click("#login button");
    await page.waitForSelector("#status.error");
    expect(await page.textContent("#status")).toContain("UNAUTHORIZED");

    await page.fill("#key", KEYS.alice);
    await page.click("#login button");
    await page.waitForSelector("#main:not([hidden])");
    expect(await page.textContent("#user")).toBe("alice");

    await page.setInputFiles("#file", {
      name: "hello.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("hi from a browser"),
    });
    await page.click("#upload button");
    const row = page.locator("#rows tr", { hasText: "hello.txt" });
    await row.waitFor();
    const id = await row.getAttribute("data-id");
    const meta = await json(`${server.url}/v1/artifacts/${id}/metadata`, "GET", KEYS.alice);
    expect(meta.body).toMatchObject({
      filename: "hello.txt",
      bytes: 17,
      mime: "text/plain",
      sessionId: "user_alice",
    });

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      row.locator("button", { hasText: "Download" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("hello.txt");
    expect(await readFile((await download.path())!, "utf8")).toBe("hi from a browser");

    await row.locator("button", { hasText: "Delete" }).click();
    await row.waitFor({ state: "detached" });
    expect((await json(`${server.url}/v1/artifacts/${id}/metadata`, "GET", KEYS.alice)).status).toBe(404);
    expect(errors).toEqual([]);
  }, 60_000);
});
