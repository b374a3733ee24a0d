// node:http for the bundles, taken without Node's ESM wrapper for built-ins. Imported as ESM
// (`import { request } from 'node:http'`, as the AWS SDK's HTTP handler does), node:http costs ~17 ms more
// at a cold start than through getBuiltinModule: building its ESM namespace evaluates every export,
// the lazily loaded fetch/WebSocket ones included. lib/function.ts aliases `http` and `node:http` here.
module.exports = process.getBuiltinModule('node:http');
