import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { Page } from '../api/types.ts';

/**
 * Server pagination by cursor: the server hands out the next page's cursor; the way back is the cursors
 * already seen. A change of filters (the key) starts again at the first page.
 */
export function useCursorPages<T>(
  key: readonly unknown[],
  fetchPage: (cursor: string | undefined) => Promise<Page<T>>,
  options: { refetchInterval?: number | false } = {},
) {
  const [state, setState] = useState<{ key: string; cursors: Array<string | undefined> }>({
    key: JSON.stringify(key),
    cursors: [undefined],
  });
  const keyText = JSON.stringify(key);
  const cursors = state.key === keyText ? state.cursors : [undefined];
  const cursor = cursors[cursors.length - 1];
  const query = useQuery({
    queryKey: [...key, 'page', cursor ?? null],
    queryFn: () => fetchPage(cursor),
    placeholderData: keepPreviousData,
    refetchInterval: options.refetchInterval ?? false,
  });
  return {
    query,
    rows: query.data?.data ?? [],
    pageNumber: cursors.length,
    hasPrevious: cursors.length > 1,
    hasNext: Boolean(query.data?.next_cursor),
    next: () => {
      const nextCursor = query.data?.next_cursor;
      if (nextCursor) setState({ key: keyText, cursors: [...cursors, nextCursor] });
    },
    previous: () => setState({ key: keyText, cursors: cursors.slice(0, -1) }),
    first: () => setState({ key: keyText, cursors: [undefined] }),
  };
}
