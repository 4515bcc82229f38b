import { isRecord, openAICompatible } from '../openai-compatible/openai-compatible-adapter.js';

/**
 * Groq. Before it supported `stream_options`, Groq put the stream's usage in the last chunk's `x_groq.usage`
 * (console.groq.com/docs, "Streaming"); both places are read so either form is billed.
 */
export const createGroqAdapter = openAICompatible({
  id: 'groq',
  defaultBaseUrl: 'https://api.groq.com/openai/v1',
  chunkUsage: (chunk) => chunk.usage ?? (isRecord(chunk.x_groq) ? chunk.x_groq.usage : undefined),
  // Groq serves the Responses API (console.groq.com/docs/responses-api).
  responses: true,
});
