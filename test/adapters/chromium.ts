/** Debian's headless Chromium for the SDK's browser tests (never a downloaded browser; .ci/run installs it). */
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  if (!fs.existsSync('/usr/bin/chromium')) throw new Error('needs Debian chromium (apt-get install chromium; .ci/run installs it)');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
