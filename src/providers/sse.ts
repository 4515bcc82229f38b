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
export async function* parseServerSentEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let eventName = '';
  let dataLines: string[] = [];
  let sawData = false;

  function* takeLine(line: string): Generator<ServerSentEvent> {
    if (line === '') {
      if (sawData) yield { event: eventName || 'message', data: dataLines.join('\n') };
      eventName = '';
      dataLines = [];
      sawData = false;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      dataLines.push(value);
      sawData = true;
    } else if (field === 'event') {
      eventName = value;
    }
  }

  function* drain(final: boolean): Generator<ServerSentEvent> {
    for (;;) {
      const match = /\r\n|\r|\n/.exec(buffer);
      if (!match) break;
      // A CR at the very end may be the first half of a CRLF split across chunks: wait for more bytes.
      if (match[0] === '\r' && match.index === buffer.length - 1 && !final) break;
      const line = buffer.slice(0, match.index);
      buffer = buffer.slice(match.index + match[0].length);
      yield* takeLine(line);
    }
  }

  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    yield* drain(false);
  }
  buffer += decoder.decode();
  yield* drain(true);
  if (buffer !== '') yield* takeLine(buffer);
  buffer = '';
  yield* takeLine('');
}

/** The JSON payloads of an event stream, stopping at OpenAI's `data: [DONE]` sentinel. */
export async function* parseJsonEvents(
  body: AsyncIterable<Uint8Array>,
  onInvalid: (data: string, error: unknown) => never,
): AsyncGenerator<{ event: string; payload: unknown }> {
  for await (const event of parseServerSentEvents(body)) {
    const data = event.data.trim();
    if (data === '[DONE]') return;
    if (data === '') continue;
    let payload: unknown;
    try {
      payload = JSON.parse(data);
    } catch (error) {
      onInvalid(data, error);
    }
    yield { event: event.event, payload };
  }
}
