/**
 * zod through its tree-shakable API (`zod/mini`): the classic API's methods keep every schema's JSON-Schema
 * and locale code in each bundle (~100 KiB), the functional one only what is used (~50 KiB). Its issue
 * messages come from zod's English locale, configured here once, before any schema parses.
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

export * from 'zod/mini';
