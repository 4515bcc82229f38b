import { QueryClient, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { api, ApiError, onSessionEnded, setCsrfToken } from './http.ts';

export interface Session {
  role: 'admin' | 'customer';
  account: { id: string; name: string } | null;
  key_prefix: string | null;
  csrf_token: string;
  expires_at: string;
  idle_expires_at: string;
}

const SESSION_KEY = ['session'];

/**
 * A new session (or none) sees nothing the previous one loaded: every cached answer is dropped but the
 * session itself, which is set in place so the screens watching it switch at once.
 */
function forgetEverythingBut(client: QueryClient, session: Session | null): void {
  client.removeQueries({ predicate: (query) => query.queryKey[0] !== SESSION_KEY[0] });
  client.setQueryData(SESSION_KEY, session);
}

/** The browser's console session, or null when signed out. */
export function useSession() {
  const client = useQueryClient();
  const query = useQuery({
    queryKey: SESSION_KEY,
    queryFn: async (): Promise<Session | null> => {
      try {
        return await api<Session>('/console/api/session');
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return null;
        throw error;
      }
    },
    staleTime: Infinity,
  });
  useEffect(() => {
    setCsrfToken(query.data?.csrf_token ?? null);
  }, [query.data]);
  useEffect(() => {
    onSessionEnded(() => {
      forgetEverythingBut(client, null);
    });
  }, [client]);
  return query;
}

export function useSignIn() {
  const client = useQueryClient();
  return useMutation({
    // The key goes to the server once, in this request's body; it is never written to storage or the URL.
    mutationFn: (key: string) => api<Session>('/console/api/session', { method: 'POST', body: { key } }),
    onSuccess: (session) => {
      setCsrfToken(session.csrf_token);
      forgetEverythingBut(client, session);
    },
  });
}

export function useSignOut() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api<{ signed_out: boolean }>('/console/api/session', { method: 'DELETE' }),
    onSettled: () => {
      setCsrfToken(null);
      forgetEverythingBut(client, null);
    },
  });
}
