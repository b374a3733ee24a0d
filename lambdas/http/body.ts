import { HttpProblem } from './problem.ts';
import { inputMap } from './input-map.ts';

/**
 * Decodes and parses a request body once, with a hard size limit checked before any parsing: JSON
 * (`application/json`, `application/*+json`) and HTML forms. Other types stay raw for the route to read.
 */
export function parseBody(body: string | null, isBase64Encoded: boolean, contentType: string | undefined, maxBytes: number): { raw?: Buffer; parsed: unknown } {
  if (body === null || body === undefined || body === '') return { parsed: undefined };
  // A base64 body decodes to 3/4 of its length: refuse early without decoding a huge string.
  const approximate = isBase64Encoded ? Math.floor((body.length * 3) / 4) : Buffer.byteLength(body, 'utf8');
  if (approximate > maxBytes) {
    throw new HttpProblem(413, 'Payload too large', { detail: `the request body exceeds ${maxBytes} bytes` });
  }
  const raw = Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8');
  if (raw.length > maxBytes) throw new HttpProblem(413, 'Payload too large', { detail: `the request body exceeds ${maxBytes} bytes` });
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType)) {
    try {
      return { raw, parsed: JSON.parse(raw.toString('utf8')) as unknown };
    } catch {
      throw new HttpProblem(400, 'Malformed JSON', { detail: 'the request body is not valid JSON' });
    }
  }
  if (mediaType === 'application/x-www-form-urlencoded') {
    const form = inputMap<string>();
    for (const [name, value] of new URLSearchParams(raw.toString('utf8'))) {
      // Parameters that appear twice are ambiguous in OAuth (RFC 6749 §3.1) and treated as malformed.
      if (Object.hasOwn(form, name)) throw new HttpProblem(400, 'Invalid request', { detail: `form parameter ${name} is repeated` });
      form[name] = value;
    }
    return { raw, parsed: form };
  }
  return { raw, parsed: undefined };
}
