import type { ReactNode } from 'react';
import { Link, useRoute } from 'wouter';
import type { Session } from '../api/session.ts';
import { useSignOut } from '../api/session.ts';

function NavLink({ href, children }: { href: string; children: ReactNode }) {
  const [exact] = useRoute(href);
  const [nested] = useRoute(`${href}/*`);
  const active = exact || (href !== '/' && nested);
  return (
    <Link href={href} className={active ? 'active' : undefined} aria-current={active ? 'page' : undefined}>
      {children}
    </Link>
  );
}

export function Layout(props: { session: Session; links: Array<[string, string]>; children: ReactNode }) {
  const signOut = useSignOut();
  const who =
    props.session.role === 'admin'
      ? `operator${props.session.key_prefix ? ` (${props.session.key_prefix}…)` : ''}`
      : `${props.session.account?.name ?? 'account'} (${props.session.key_prefix}…)`;
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">tollgate</span>
        <nav aria-label="console">
          {props.links.map(([href, label]) => (
            <NavLink key={href} href={href}>
              {label}
            </NavLink>
          ))}
        </nav>
        <span className="who" data-testid="signed-in-as">
          {who}
        </span>
        <button type="button" className="quiet" onClick={() => signOut.mutate()}>
          Sign out
        </button>
      </header>
      <main>{props.children}</main>
    </div>
  );
}
