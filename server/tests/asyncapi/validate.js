// Validates an AsyncAPI document read from stdin with the official parser.
// Prints every diagnostic; exits 1 if any is an error (severity 0).
//   node validate.js NODE_MODULES < asyncapi.json
'use strict';
const path = require('path');
const { Parser } = require(path.join(process.argv[2], '@asyncapi/parser'));

let text = '';
process.stdin.on('data', (c) => { text += c; });
process.stdin.on('end', async () => {
  const { document, diagnostics } = await new Parser().parse(text);
  const errors = diagnostics.filter((d) => d.severity === 0);
  for (const d of diagnostics) console.log(`${d.severity} ${d.code} ${d.path.join('.')}: ${d.message}`);
  if (!document || errors.length > 0) process.exit(1);
  console.log(`valid: ${document.allMessages().length} messages`);
});
