import { createHash } from 'node:crypto';
import { crc32, deflateSync } from 'node:zlib';
import { audioDurationSeconds, billedSeconds } from '../../util/audio-duration.js';
import { isRecord } from '../../util/is-record.js';
import { countTextTokens } from '../token-estimate.js';
import { UpstreamError, type NativeAnswer, type NativeBody } from '../types.js';

/**
 * The demo provider's embeddings, transcriptions and images: deterministic answers in OpenAI's shapes, so
 * every route works on a fresh start with no upstream key, priced as the real model.
 */

/** Vectors this long unless the request asks for `dimensions` (a real model's 1536 would swamp a demo). */
const DEMO_DIMENSIONS = 256;

/**
 * Embeddings: each input's vector is derived from its SHA-256 (same text, same vector) and has unit length,
 * as OpenAI's are. Usage counts the input tokens with the same tokenizer the gateway uses: exact for the demo.
 */
export function demoEmbeddings(json: Record<string, unknown>, model: string): NativeAnswer {
  const inputs = embeddingInputs(json.input);
  const dimensions =
    typeof json.dimensions === 'number' && json.dimensions > 0 ? Math.min(json.dimensions, 4096) : DEMO_DIMENSIONS;
  let tokens = 0;
  const data = inputs.map((input, index) => {
    tokens += typeof input === 'string' ? countTextTokens(input) : input.length;
    const vector = unitVector(typeof input === 'string' ? input : input.join(','), dimensions);
    const embedding =
      json.encoding_format === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    return { object: 'embedding', index, embedding };
  });
  return { kind: 'json', json: { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } } };
}

function embeddingInputs(input: unknown): Array<string | number[]> {
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.every((item) => typeof item === 'number')) return [input as number[]];
  if (Array.isArray(input)) return input as Array<string | number[]>;
  throw new UpstreamError('bad_request', 'input must be a string, an array of strings, or token arrays');
}

function unitVector(text: string, dimensions: number): number[] {
  const values: number[] = [];
  for (let block = 0; values.length < dimensions; block += 1) {
    const digest = createHash('sha256').update(`${block}:${text}`).digest();
    for (let offset = 0; offset + 2 <= digest.length && values.length < dimensions; offset += 2) {
      values.push(digest.readUInt16BE(offset) / 32767.5 - 1);
    }
  }
  const length = Math.sqrt(values.reduce((sum, value) => sum + value * value, 0)) || 1;
  return values.map((value) => Math.round((value / length) * 1e8) / 1e8);
}

/**
 * A transcription: a sentence naming the file and its duration, read from the file itself. Usage is OpenAI's
 * whisper-1 shape, `{type: "duration", seconds}` rounded up. `response_format` json (default), text and
 * verbose_json are honoured.
 * @throws UpstreamError bad_request when the file is not audio the gateway can read.
 */
export async function demoTranscription(body: NativeBody): Promise<NativeAnswer> {
  if (body.kind !== 'form') throw new UpstreamError('bad_request', 'a transcription takes a multipart form with a file');
  const duration = await audioDurationSeconds(body.file.bytes, body.file.contentType);
  if (duration === undefined) {
    throw new UpstreamError('bad_request', `the demo cannot read the audio in ${JSON.stringify(body.file.filename)}`);
  }
  const seconds = billedSeconds(duration);
  const text = `This is the tollgate demo transcription of ${duration.toFixed(2)} seconds of audio from ${body.file.filename}.`;
  const format = typeof body.fields.response_format === 'string' ? body.fields.response_format : 'json';
  const usage = { type: 'duration', seconds };
  if (format === 'text') return { kind: 'text', text, contentType: 'text/plain; charset=utf-8' };
  if (format === 'verbose_json') {
    const segment = { id: 0, seek: 0, start: 0, end: duration, text, tokens: [], temperature: 0 };
    return { kind: 'json', json: { task: 'transcribe', language: 'english', duration, text, segments: [segment], usage } };
  }
  return { kind: 'json', json: { text, usage } };
}

/**
 * Images: `n` small PNGs (8x8 pixels, whatever size was asked; the price is the size's), each one colour taken
 * from the prompt's hash, as `b64_json`, or as a data URL when `response_format` is `url`.
 */
export function demoImages(json: Record<string, unknown>): NativeAnswer {
  const prompt = typeof json.prompt === 'string' ? json.prompt : '';
  const count = typeof json.n === 'number' ? json.n : 1;
  const data = Array.from({ length: count }, (_, index) => {
    const digest = createHash('sha256').update(`${index}:${prompt}`).digest();
    const png = solidPng(8, 8, [digest[0]!, digest[1]!, digest[2]!]).toString('base64');
    return json.response_format === 'url' ? { url: `data:image/png;base64,${png}` } : { b64_json: png };
  });
  return {
    kind: 'json',
    json: {
      created: Math.floor(Date.now() / 1000),
      data,
      ...(isRecord(json) && typeof json.size === 'string' ? { size: json.size } : {}),
      ...(typeof json.quality === 'string' ? { quality: json.quality } : {}),
      output_format: 'png',
    },
  };
}

/** A PNG of one colour (PNG spec: signature, IHDR, one zlib IDAT of filter-0 rows, IEND; CRC-32 per chunk). */
function solidPng(width: number, height: number, [red, green, blue]: [number, number, number]): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits per channel, truecolour, no interlace
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: width }, () => [red, green, blue]).flat())]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0))]);
}
