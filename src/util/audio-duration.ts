import { parseBuffer } from 'music-metadata';

/**
 * The duration of an audio file in seconds, read from the file itself with music-metadata (WAV, MP3, M4A, OGG,
 * FLAC, WebM...; MP3s are scanned whole, since a header estimate of a variable-bitrate file can be far off).
 * Undefined when the format is not recognised or the file names no duration.
 */
export async function audioDurationSeconds(bytes: Buffer, contentType: string | undefined): Promise<number | undefined> {
  try {
    const metadata = await parseBuffer(bytes, contentType ? { mimeType: contentType } : undefined, {
      duration: true,
      skipCovers: true,
    });
    const duration = metadata.format.duration;
    return typeof duration === 'number' && Number.isFinite(duration) && duration >= 0 ? duration : undefined;
  } catch {
    return undefined;
  }
}

/** Whole seconds, rounded up, as OpenAI bills and reports them (a 1.7 s file is `usage.seconds` 2). */
export function billedSeconds(duration: number): number {
  return Math.max(0, Math.ceil(duration - 1e-9));
}
