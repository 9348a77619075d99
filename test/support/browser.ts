import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium; `npm test` installs it when missing (scripts/bootstrap.js). */
export const CHROMIUM_PATH = process.env.KEYROTOR_CHROMIUM ?? '/usr/bin/chromium';

/** A headless Chromium driven by playwright-core: no browser download, no network, no profile left behind. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH}: run \`npm test\` (its bootstrap installs it) or, as root, apt-get install -y chromium`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
