import type { CreatedKey } from '../api/types.ts';

/** A new key, shown this once: the server keeps only its hash and the console keeps nothing. */
export function OneTimeKey({ created }: { created: CreatedKey }) {
  return (
    <div className="one-time-key">
      <p>Its API key, shown this once (copy it now; it cannot be shown again):</p>
      <code data-testid="new-api-key">{created.key}</code>
      <button type="button" className="quiet" onClick={() => void navigator.clipboard?.writeText(created.key)}>
        Copy
      </button>
    </div>
  );
}
