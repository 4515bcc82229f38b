import type { ReactNode } from 'react';
import { ApiError } from '../api/http.ts';

export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  const message = error instanceof ApiError ? `${error.message} (${error.status} ${error.code})` : String(error);
  return (
    <p className="notice error" role="alert">
      {message}
    </p>
  );
}

export function Loading({ what }: { what?: string }) {
  return <p className="loading">Loading{what ? ` ${what}` : ''}…</p>;
}

export function Section(props: { title: string; actions?: ReactNode; children: ReactNode; id?: string }) {
  return (
    <section className="panel" aria-labelledby={props.id}>
      <header className="panel-header">
        <h2 id={props.id}>{props.title}</h2>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

export function Stat(props: { label: string; value: ReactNode; detail?: ReactNode; testId?: string }) {
  return (
    <div className="stat" data-testid={props.testId}>
      <div className="stat-label">{props.label}</div>
      <div className="stat-value">{props.value}</div>
      {props.detail ? <div className="stat-detail">{props.detail}</div> : null}
    </div>
  );
}

export function Badge({ tone, children }: { tone: 'good' | 'bad' | 'warn' | 'plain'; children: ReactNode }) {
  return <span className={`badge ${tone}`}>{children}</span>;
}
