import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import type { Browser } from "playwright-core";

/** Debian's Chromium (apt package chromium, installed by scripts/install-services.sh). */
export const CHROMIUM = "/usr/bin/chromium";
export const HAS_CHROMIUM = existsSync(CHROMIUM);
if (!HAS_CHROMIUM)
  console.warn(`\n*** ${CHROMIUM} not found: the web console browser tests are NOT run ***\n`);

/** Headless Chromium through playwright-core, and an emptied folder for the test's screenshots. */
export async function launchChromium(shots: string): Promise<Browser> {
  await rm(shots, { recursive: true, force: true });
  await mkdir(shots, { recursive: true });
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}
