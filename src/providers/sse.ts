/** One server-sent event: its `event:` name (default "message") and its joined `data:` lines. */
export interface ServerSentEvent {
  event: string;
  data: string;
}

/**
 * Parses a `text/event-stream` body as the WHATWG HTML spec (§9.2.6) defines it: lines end in CRLF, LF or CR,
 * an event ends at a blank line, `data:` lines join with "\n", one leading space after the colon is dropped,
 * lines starting with ":" are comments. Network chunks split anywhere, even inside a UTF-8 character.
 * A last event without its blank line is still delivered: some upstreams close right after it.
 */
export class SseDecoder {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  private eventName = '';
  private dataLines: string[] = [];
  private sawData = false;

  /** The events `bytes` completes. */
  push(bytes: Uint8Array): ServerSentEvent[] {
    this.buffer += this.decoder.decode(bytes, { stream: true });
    const events: ServerSentEvent[] = [];
    this.drain(false, events);
    return events;
  }

  /** The events left when the body ends. */
  end(): ServerSentEvent[] {
    this.buffer += this.decoder.decode();
    const events: ServerSentEvent[] = [];
    this.drain(true, events);
    if (this.buffer !== '') this.takeLine(this.buffer, events);
    this.buffer = '';
    this.takeLine('', events);
    return events;
  }

  private drain(final: boolean, events: ServerSentEvent[]): void {
    let start = 0;
    const buffer = this.buffer;
    // The next CR is looked for again only once passed: most streams have none, and searching the rest of
    // the buffer for one on every line would make a large chunk cost the square of its length.
    let cr = buffer.indexOf('\r');
    for (;;) {
      const lf = buffer.indexOf('\n', start);
      if (cr !== -1 && cr < start) cr = buffer.indexOf('\r', start);
      if (lf === -1 && cr === -1) break;
      const end = cr === -1 || (lf !== -1 && lf < cr) ? lf : cr;
      let next = end + 1;
      if (end === cr) {
        // A CR at the very end may be the first half of a CRLF split across chunks: wait for more bytes.
        if (cr === buffer.length - 1 && !final) break;
        if (buffer.charCodeAt(cr + 1) === 10) next = cr + 2;
      }
      this.takeLine(buffer.slice(start, end), events);
      start = next;
    }
    this.buffer = start === 0 ? buffer : buffer.slice(start);
  }

  private takeLine(line: string, events: ServerSentEvent[]): void {
    if (line === '') {
      if (this.sawData) events.push({ event: this.eventName || 'message', data: this.dataLines.join('\n') });
      this.eventName = '';
      this.dataLines = [];
      this.sawData = false;
      return;
    }
    if (line.charCodeAt(0) === 58 /* : */) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* space */) value = value.slice(1);
    if (field === 'data') {
      this.dataLines.push(value);
      this.sawData = true;
    } else if (field === 'event') {
      this.eventName = value;
    }
  }
}

/** The events of a `text/event-stream` body (see SseDecoder). */
export async function* parseServerSentEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new SseDecoder();
  for await (const bytes of body) yield* decoder.push(bytes);
  yield* decoder.end();
}

/** One JSON event of a stream: its name, its parsed payload, and the payload's text as the upstream sent it. */
export interface JsonEvent {
  event: string;
  payload: unknown;
  /** The `data:` text, trimmed: what the payload was parsed from. */
  data: string;
}

/** The JSON payloads of an event stream, stopping at OpenAI's `data: [DONE]` sentinel. */
export async function* parseJsonEvents(
  body: AsyncIterable<Uint8Array>,
  onInvalid: (data: string, error: unknown) => never,
): AsyncGenerator<JsonEvent> {
  const decoder = new SseDecoder();
  const parse = (event: ServerSentEvent): JsonEvent | 'done' | undefined => {
    const data = event.data.trim();
    if (data === '[DONE]') return 'done';
    if (data === '') return undefined;
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch (error) {
      onInvalid(data, error);
    }
    return { event: event.event, payload, data };
  };
  // One generator over the decoder's events (not one per layer): each layer of async generators costs a few
  // promise turns per event, which a stream of hundreds of small events pays hundreds of times.
  for await (const bytes of body) {
    for (const event of decoder.push(bytes)) {
      const parsed = parse(event);
      if (parsed === 'done') return;
      if (parsed) yield parsed;
    }
  }
  for (const event of decoder.end()) {
    const parsed = parse(event);
    if (parsed === 'done') return;
    if (parsed) yield parsed;
  }
}
