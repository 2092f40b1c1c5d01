/**
 * Preloaded with `node --import` to record every module a process loads, in load order, into the
 * file named by TRACE_MODULES_OUT: built-ins as node:…, the rest as file URLs. Synchronous hooks
 * (module.registerHooks) see ESM and CommonJS loads alike, dynamic imports included.
 */
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env['TRACE_MODULES_OUT'];
if (out !== undefined && out !== '') {
  const seen = new Set<string>();
  registerHooks({
    load(url, context, nextLoad) {
      const result = nextLoad(url, context);
      if (!seen.has(url)) {
        seen.add(url);
        appendFileSync(out, `${url}\n`);
      }
      return result;
    },
  });
}
