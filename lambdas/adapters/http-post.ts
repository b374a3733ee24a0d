import type { HttpPost } from '../core/saml/soap-client.ts';

/**
 * The runtime's HTTP POST for back-channel calls (SAML SOAP to service providers): real `fetch`, no
 * redirects followed, a hard timeout, and the answer read only up to the size cap.
 */
export const fetchHttpPost: HttpPost = async (url, request) => {
  const response = await fetch(url, {
    method: 'POST',
    body: request.body,
    headers: request.headers,
    redirect: 'manual',
    signal: AbortSignal.timeout(request.timeoutMs),
  });
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > request.maxResponseBytes) {
    await response.body?.cancel();
    throw new Error(`the answer exceeds ${request.maxResponseBytes} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > request.maxResponseBytes) {
        await reader.cancel();
        throw new Error(`the answer exceeds ${request.maxResponseBytes} bytes`);
      }
      chunks.push(value);
    }
  }
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: Buffer.concat(chunks).toString('utf8') };
};
