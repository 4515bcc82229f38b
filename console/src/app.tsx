import { Redirect, Route, Switch } from 'wouter';
import { useSession, type Session } from './api/session.ts';
import { ErrorNotice, Loading } from './components/feedback.tsx';
import { Layout } from './components/layout.tsx';
import { AccountPage } from './pages/account-page.tsx';
import { AccountsPage } from './pages/accounts-page.tsx';
import { CallsPage } from './pages/calls-page.tsx';
import { CatalogPage } from './pages/catalog-page.tsx';
import { CustomerPage } from './pages/customer-page.tsx';
import { ModelPage } from './pages/model-page.tsx';
import { OverviewPage } from './pages/overview-page.tsx';
import { SignInPage } from './pages/sign-in-page.tsx';
import { SyncPage } from './pages/sync-page.tsx';
import { SyncRunPage } from './pages/sync-run-page.tsx';

export function App() {
  const session = useSession();
  if (session.isPending) return <Loading what="the console" />;
  if (session.error) return <ErrorNotice error={session.error} />;
  if (!session.data) return <SignInPage />;
  return session.data.role === 'admin' ? <OperatorConsole session={session.data} /> : <CustomerConsole session={session.data} />;
}

function OperatorConsole({ session }: { session: Session }) {
  return (
    <Layout
      session={session}
      links={[
        ['/', 'Overview'],
        ['/accounts', 'Accounts'],
        ['/calls', 'Calls'],
        ['/catalog', 'Catalog'],
        ['/sync', 'Sync and alerts'],
      ]}
    >
      <Switch>
        <Route path="/" component={OverviewPage} />
        <Route path="/accounts" component={AccountsPage} />
        <Route path="/accounts/:account">{(params) => <AccountPage account={decodeURIComponent(params.account)} />}</Route>
        <Route path="/calls" component={CallsPage} />
        <Route path="/catalog" component={CatalogPage} />
        <Route path="/catalog/models/*">{(params) => <ModelPage modelId={decodeURIComponent(params['*'])} />}</Route>
        <Route path="/sync" component={SyncPage} />
        <Route path="/sync/runs/:run">{(params) => <SyncRunPage runId={Number(params.run)} />}</Route>
        <Route>
          <Redirect to="/" />
        </Route>
      </Switch>
    </Layout>
  );
}

function CustomerConsole({ session }: { session: Session }) {
  return (
    <Layout session={session} links={[['/', 'Your account']]}>
      <Switch>
        <Route path="/">
          <CustomerPage />
        </Route>
        <Route>
          <Redirect to="/" />
        </Route>
      </Switch>
    </Layout>
  );
}
