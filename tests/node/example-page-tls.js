// Runs example-page.js (the docs' socket.io 0.9 page in headless Chromium) against an https
// edge whose certificate chain is issued by a private test CA.
// argv: as example-page.js, and --tls-ca FILE: the PEM certificate of a CA that the edge's
// chain carries (its intermediate: servers do not send the root).
//
// example-page.js turns --tls-ca into --ignore-certificate-errors, which would also accept a
// wrong certificate. Chromium on Linux only trusts extra roots through an NSS database (and
// certutil is not installed here), so the nearest thing to trusting the CA is pinning its
// public key: --ignore-certificate-errors-spki-list accepts a chain only if a certificate the
// server sent carries that key, so a certificate from any other issuer is still refused.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const playwright = require('playwright-core');

function arg(name) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const caFile = arg('tls-ca');
if (!caFile) {
  process.stderr.write('example-page-tls.js needs --tls-ca FILE\n');
  process.exit(64);
}
const spki = crypto.createHash('sha256')
  .update(new crypto.X509Certificate(fs.readFileSync(caFile)).publicKey.export({ type: 'spki', format: 'der' }))
  .digest('base64');

// Patched before example-page.js is loaded: it shares this module instance through require's
// cache, so its launch goes through here.
const launch = playwright.chromium.launch.bind(playwright.chromium);
playwright.chromium.launch = (options = {}) => launch({
  ...options,
  args: (options.args || [])
    .filter((a) => a !== '--ignore-certificate-errors')
    .concat([`--ignore-certificate-errors-spki-list=${spki}`]),
});

require('./example-page.js');
