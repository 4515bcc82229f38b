import { useState, type FormEvent } from 'react';
import { useSignIn } from '../api/session.ts';
import { ErrorNotice } from '../components/feedback.tsx';

/**
 * Sign-in with an admin key (the operator's console) or an account's API key (that account only). The key is
 * sent once to start a server-side session and then dropped from the page: no storage, no URL, no cookie.
 */
export function SignInPage() {
  const [key, setKey] = useState('');
  const signIn = useSignIn();
  const submit = (event: FormEvent) => {
    event.preventDefault();
    signIn.mutate(key, { onSettled: () => setKey('') });
  };
  return (
    <main className="sign-in">
      <form className="panel" onSubmit={submit} aria-label="sign in">
        <h1>tollgate console</h1>
        <p className="hint">Sign in with an admin key to run the gateway, or with an account's API key to see that account.</p>
        <label>
          API key
          <input
            type="password"
            name="key"
            autoComplete="off"
            spellCheck={false}
            value={key}
            onChange={(event) => setKey(event.target.value)}
            placeholder="tg_…"
            required
          />
        </label>
        <button type="submit" disabled={signIn.isPending || key.trim() === ''}>
          {signIn.isPending ? 'Signing in…' : 'Sign in'}
        </button>
        <ErrorNotice error={signIn.error} />
      </form>
    </main>
  );
}
