// jsforce against the emulator: JWT login through conn.authorize, a query, identity(), logout (revoke).
// The assertion is signed here with node's crypto, independently of sfjwt-vault and of Python.
// Usage: node jsforce_client.js CONFIG_JSON  (loginUrl, consumerKey, username, audience, keyFile)
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const jsforce = require('jsforce');

const config = JSON.parse(process.argv[2]);
const b64url = (data) => Buffer.from(data).toString('base64url');

function assertion() {
  const header = b64url(JSON.stringify({ alg: 'RS256' }));
  const claims = b64url(JSON.stringify({
    iss: config.consumerKey,
    sub: config.username,
    aud: config.audience,
    exp: Math.floor(Date.now() / 1000) + 180,
  }));
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${claims}`), fs.readFileSync(config.keyFile));
  return `${header}.${claims}.${b64url(signature)}`;
}

async function main() {
  const conn = new jsforce.Connection({ loginUrl: config.loginUrl, version: '65.0' });
  const userInfo = await conn.authorize({
    grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
    assertion: assertion(),
  });
  const query = await conn.query(`SELECT Id, Username FROM User WHERE Username = '${config.username}'`);
  const identity = await conn.identity();
  const instanceUrl = conn.instanceUrl;
  await conn.logout(); // an OAuth2 session: POST /services/oauth2/revoke
  process.stdout.write(JSON.stringify({ jsforceVersion: jsforce.VERSION, userInfo, instanceUrl, query, identity }));
}

main().catch((error) => {
  process.stderr.write(`jsforce failed: ${error.name}: ${error.message}\n`);
  process.exit(1);
});
