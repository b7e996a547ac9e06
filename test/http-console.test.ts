import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HAS_CHROMIUM, launchChromium } from "./helpers/chromium.js";
import { gradientPng, onePagePdf } from "./helpers/documents.js";
import { json, KEY_ENV, KEYS, type RunningServer, startServer } from "./http-harness.js";

/**
 * The web console in a real headless Chromium against a real `serve` on a folder, as a person
 * uses it: connect, drop files, watch a 50 MB upload's progress bar, read newest first, open
 * details and edit, preview an image and a PDF, share a signed link, delete with confirmation,
 * filter, switch sessions as an admin, and the same page on a phone, light and dark.
 * Screenshots of every step are kept in test-results/console/ to be looked at.
 * Needs /usr/bin/chromium (apt package chromium).
 */

const SHOTS = resolve(import.meta.dirname, "../test-results/console");

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

describe.skipIf(!HAS_CHROMIUM)("web console in Chromium", () => {
  let dir: string;
  let server: RunningServer;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "chuk-console-"));
    server = await startServer({ cwd: dir, env: KEY_ENV });
    browser = await launchChromium(SHOTS);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function open(
    options: { width?: number; height?: number; dark?: boolean } = {},
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      viewport: { width: options.width ?? 1280, height: options.height ?? 860 },
      colorScheme: options.dark ? "dark" : "light",
      acceptDownloads: true,
    });
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
    const page = await context.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      // A refused key is answered 401, which Chromium logs; anything else is a fault.
      if (m.type() === "error" && !m.text().includes("401")) problems.push(`console: ${m.text()}`);
    });
    await page.goto(`${server.url}/`);
    return { context, page };
  }

  async function connect(page: Page, key: string): Promise<void> {
    await page.fill("#key", key);
    await page.click("#login button");
    await page.waitForSelector("#main:not([hidden])");
  }

  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const rowNames = (page: Page) => page.locator("#rows td.name button").allTextContents();
  const idOf = async (page: Page, name: string) =>
    (await page.locator("#rows tr", { hasText: name }).getAttribute("data-id"))!;

  it("does everything a person does, in the order they do it", async () => {
    const { context, page } = await open();

    // A wrong key: a clear error banner, still on the login form.
    await page.fill("#key", "wrong-key-0000000000000000");
    await page.click("#login button");
    await page.waitForSelector("#alert:not([hidden])");
    expect(await page.textContent("#alert-text")).toContain("UNAUTHORIZED");
    await shot(page, "01-login-error");

    await connect(page, KEYS.alice);
    expect(await page.textContent("#user")).toBe("alice");
    expect(await page.textContent("#session")).toBe("user_alice");
    expect(await page.isHidden("#alert")).toBe(true);
    await shot(page, "02-connected-empty");

    // Three files dropped at once.
    const png = gradientPng(320, 200);
    const pdf = onePagePdf("Hello from chuk-artifacts");
    const dropped = [
      {
        name: "notes.json",
        type: "application/json",
        b64: Buffer.from('{"team":"red","n":[1,2,3]}').toString("base64"),
      },
      { name: "chart.png", type: "image/png", b64: png.toString("base64") },
      { name: "report.pdf", type: "application/pdf", b64: pdf.toString("base64") },
    ];
    const transfer = await page.evaluateHandle((files) => {
      const dt = new DataTransfer();
      for (const f of files) {
        const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
        dt.items.add(new File([bytes], f.name, { type: f.type }));
      }
      return dt;
    }, dropped);
    await page.dispatchEvent("#drop", "dragenter", { dataTransfer: transfer });
    expect(await page.getAttribute("#drop", "class")).toContain("over");
    await shot(page, "03-dragging");
    await page.dispatchEvent("#drop", "drop", { dataTransfer: transfer });
    await page.waitForFunction(() => document.querySelectorAll("#uploads li.done").length === 3);
    await page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 3);
    // Uploaded one after another: the last is the newest and listed first.
    expect(await rowNames(page)).toEqual(["report.pdf", "chart.png", "notes.json"]);
    const size = page.locator("#rows tr", { hasText: "chart.png" }).locator("td.size");
    expect(await size.textContent()).toBe(`${Math.round(png.length / 1024)} KB`); // human-readable
    expect(await size.getAttribute("title")).toBe(`${png.length} bytes`); // and exact on hover
    expect(await page.locator("#rows tr").first().locator("time").getAttribute("title")).toBeTruthy();
    await shot(page, "04-three-dropped");

    // 50 MB through the file picker: multipart, and a progress bar that moves.
    const big = randomBytes(50 * 1024 * 1024);
    const bigPath = join(dir, "big-video.bin");
    await writeFile(bigPath, big);
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { seen: number[] }).seen = seen;
      new MutationObserver((records) => {
        for (const r of records) {
          const el = r.target as Element;
          if (el.getAttribute("aria-label") === "Uploading big-video.bin")
            seen.push(Number(el.getAttribute("aria-valuenow")));
        }
      }).observe(document.getElementById("uploads")!, {
        subtree: true,
        attributes: true,
        attributeFilter: ["aria-valuenow"],
      });
    });
    await page.setInputFiles("#file", bigPath);
    const bar = page.locator('[role="progressbar"][aria-label="Uploading big-video.bin"]');
    await page.waitForFunction(() => {
      const el = document.querySelector('[aria-label="Uploading big-video.bin"]');
      const v = Number(el?.getAttribute("aria-valuenow"));
      return v > 0 && v < 100;
    });
    await shot(page, "05-progress");
    await page.waitForSelector('#uploads li.done[data-name="big-video.bin"]', { timeout: 60_000 });
    expect(await bar.getAttribute("aria-valuenow")).toBe("100");
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    const between = new Set(seen.filter((v) => v > 0 && v < 100));
    expect(between.size, `progress values seen: ${seen.join(",")}`).toBeGreaterThanOrEqual(3);
    await page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 4);
    expect((await rowNames(page))[0]).toBe("big-video.bin");
    const bigMeta = await json(
      `${server.url}/v1/artifacts/${await idOf(page, "big-video.bin")}/metadata`,
      "GET",
      KEYS.alice,
    );
    expect(bigMeta.body).toMatchObject({ bytes: big.length, sha256: sha256(big) });
    await shot(page, "06-four-files");
    await page.click("#clear-uploads");
    expect(await page.locator("#uploads li").count()).toBe(0);

    // Details of the JSON: a pretty-printed preview; the summary edited and saved.
    await page.click("#rows button.link:text-is('notes.json')");
    await page.waitForSelector("#detail:not([hidden]) #preview pre");
    expect(await page.textContent("#preview pre")).toContain('"team": "red"');
    const notesId = await idOf(page, "notes.json");
    expect(await page.textContent("#facts")).toContain(notesId);
    await page.fill("#edit-summary", "Team red's numbers");
    await page.fill("#edit-meta", '{"team":"red","reviewed":true}');
    await page.click("#edit button.primary");
    await page.waitForFunction(
      () => document.querySelector("#rows .sub")?.textContent === "Team red's numbers",
    );
    const notes = await json(`${server.url}/v1/artifacts/${notesId}/metadata`, "GET", KEYS.alice);
    expect(notes.body).toMatchObject({
      summary: "Team red's numbers",
      meta: { team: "red", reviewed: true },
    });
    await shot(page, "07-detail-json-edited");

    // An image preview, decoded for real.
    await page.click("#rows button.link:text-is('chart.png')");
    await page.waitForFunction(() => {
      const img = document.querySelector("#preview img") as HTMLImageElement | null;
      return img?.complete && img.naturalWidth === 320;
    });
    expect(await page.getAttribute("#preview img", "src")).toMatch(/^blob:/);
    await shot(page, "08-preview-image");

    // A PDF preview: an application/pdf Blob in a frame, never the stored bytes as a page.
    await page.click("#rows button.link:text-is('report.pdf')");
    await page.waitForSelector("#preview iframe");
    expect(await page.getAttribute("#preview iframe", "src")).toMatch(/^blob:/);
    const pdfFrame = await (await page.$("#preview iframe"))!.contentFrame();
    await pdfFrame!.waitForLoadState();
    expect(await pdfFrame!.evaluate(() => document.contentType)).toBe("application/pdf");
    await page.waitForTimeout(3_000); // let the viewer draw before the screenshot
    await shot(page, "09-preview-pdf");

    // A signed link, one hour, copied; it works without any key.
    await page.selectOption("#link-expires", "3600");
    await page.click("#copy-link");
    await page.waitForSelector("#link-row:not([hidden])");
    const link = await page.inputValue("#link-url");
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    const fetched = await fetch(link);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(pdf)).toBe(true);
    const exp = Number(new URL(link).searchParams.get("exp"));
    expect(exp * 1000 - Date.now()).toBeGreaterThan(3500_000);
    await shot(page, "10-signed-link");
    await page.keyboard.press("Escape");
    await page.waitForSelector("#detail", { state: "hidden" });

    // Delete asks first; Cancel keeps the file, Delete removes it.
    const chartId = await idOf(page, "chart.png");
    const chartRow = page.locator("#rows tr", { hasText: "chart.png" });
    await chartRow.locator("button", { hasText: "Delete" }).click();
    await page.waitForSelector("#confirm[open]");
    expect(await page.textContent("#confirm-text")).toContain("chart.png");
    await shot(page, "11-confirm-delete");
    await page.click('#confirm button[data-answer="cancel"]');
    await page.waitForSelector("#confirm", { state: "hidden" });
    expect(await rowNames(page)).toContain("chart.png");
    await chartRow.locator("button", { hasText: "Delete" }).click();
    await page.click('#confirm button[data-answer="delete"]');
    await chartRow.waitFor({ state: "detached" });
    expect((await json(`${server.url}/v1/artifacts/${chartId}/metadata`, "GET", KEYS.alice)).status).toBe(
      404,
    );

    // Download from the list: the browser saves the bytes under the file's name.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#rows tr", { hasText: "notes.json" }).locator("button", { hasText: "Download" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe("notes.json");
    expect(await readFile((await download.path())!, "utf8")).toBe('{"team":"red","n":[1,2,3]}');

    // Filter by name, then sort by name.
    // The filter box searches the session (here: a word in names, summaries and meta).
    await page.fill("#filter", "REP");
    await expect.poll(() => rowNames(page)).toEqual(["report.pdf"]);
    expect(await page.textContent("#count")).toBe("1 of 3 files match");
    await shot(page, "12-filter");
    await page.fill("#filter", "");
    await expect.poll(() => page.textContent("#count")).not.toContain("match");
    await page.click("th button[data-sort='filename']");
    expect(await page.getAttribute("th:has(button[data-sort='filename'])", "aria-sort")).toBe("ascending");
    expect(await rowNames(page)).toEqual(["big-video.bin", "notes.json", "report.pdf"]);

    // Keyboard only: focus the drop zone's picker and a row's name with Tab.
    await page.focus("#file");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("file");
    await page.focus("#rows button.link");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#detail:not([hidden])");
    await page.keyboard.press("Escape");
    await context.close();

    // An admin opens alice's session from the session picker.
    const admin = await open();
    await connect(admin.page, KEYS.admin);
    expect(await admin.page.isVisible("#session-form")).toBe(true);
    expect(await admin.page.inputValue("#session-input")).toBe("user_admin");
    await admin.page.fill("#session-input", "user_alice");
    await admin.page.click("#session-form button");
    await admin.page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 3);
    expect(await rowNames(admin.page)).toEqual(["big-video.bin", "report.pdf", "notes.json"]);
    await shot(admin.page, "13-admin-session-switch");
    await admin.context.close();

    // A user who is not an admin has no picker; a big session is shown in pages of 25.
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${server.url}/v1/artifacts?filename=log-${String(i).padStart(2, "0")}.txt`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEYS.bob}`, "content-type": "text/plain" },
        body: `line ${i}`,
      });
      expect(res.status).toBe(201);
    }
    const bob = await open();
    await connect(bob.page, KEYS.bob);
    expect(await bob.page.isHidden("#session-form")).toBe(true);
    await bob.page.waitForSelector("#pager:not([hidden])");
    expect(await bob.page.textContent("#page-info")).toBe("Page 1 of 2");
    expect(await bob.page.locator("#rows tr").count()).toBe(25);
    expect((await rowNames(bob.page))[0]).toBe("log-29.txt");
    await bob.page.click("#next");
    expect(await bob.page.locator("#rows tr").count()).toBe(5);
    expect((await rowNames(bob.page)).at(-1)).toBe("log-00.txt");
    await shot(bob.page, "13b-second-page");
    await bob.context.close();

    // Phone width, light and dark; desktop dark. Nothing wider than the screen.
    for (const [name, options] of [
      ["14-phone-light", { width: 390, height: 844 }],
      ["15-phone-dark", { width: 390, height: 844, dark: true }],
      ["16-desktop-dark", { dark: true }],
    ] as const) {
      const view = await open(options);
      await connect(view.page, KEYS.alice);
      await view.page.waitForFunction(() => document.querySelectorAll("#rows tr").length === 3);
      const width = await view.page.evaluate(() => document.documentElement.scrollWidth);
      expect(width).toBeLessThanOrEqual(options.width ?? 1280);
      await shot(view.page, name);
      if (name === "16-desktop-dark") {
        await view.page.click("#rows button.link:text-is('notes.json')");
        await view.page.waitForSelector("#preview pre");
        await shot(view.page, "16b-desktop-dark-detail");
      }
      if (name === "14-phone-light") {
        await view.page.click("#rows button.link:text-is('notes.json')");
        await view.page.waitForSelector("#preview pre");
        await shot(view.page, "14b-phone-detail");
      }
      await view.context.close();
    }

    expect(problems).toEqual([]);
  }, 180_000);
});
