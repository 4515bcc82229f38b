import type { UploadedFile } from './types.js';

/**
 * A multipart/form-data body of text fields and one file, as bytes with its content type (boundary included),
 * encoded by the platform's own FormData (WHATWG fetch, undici in Node 20) rather than by hand. Array fields
 * repeat their name, as OpenAI's `timestamp_granularities[]` expects.
 */
export async function encodeMultipart(
  fields: Record<string, string | string[]>,
  file: UploadedFile,
): Promise<{ bytes: Buffer; contentType: string }> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    for (const item of Array.isArray(value) ? value : [value]) form.append(name, item);
  }
  form.append('file', new Blob([file.bytes], { type: file.contentType }), file.filename);
  const encoded = new Response(form);
  const contentType = encoded.headers.get('content-type') ?? 'multipart/form-data';
  return { bytes: Buffer.from(await encoded.arrayBuffer()), contentType };
}
