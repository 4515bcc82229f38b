import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { api } from '../api/http.ts';
import type { Account, ApiKey, LimitsReport } from '../api/types.ts';
import { amountProblem, formatAmount } from '../format/amounts.ts';
import { formatTime } from '../format/time.ts';
import { ErrorNotice, Section, Stat } from './feedback.tsx';

const PERIODS = ['day', 'week', 'month', 'total'] as const;

/**
 * An account's spend cap and rate limits, or those of one of its keys or end users (`tollgate limits show|set`,
 * `/admin/limits/:target`): the cap's use in its current period and when it resets, and a form to change them.
 */
export function LimitsSection({ account, keys }: { account: Account; keys: ApiKey[] }) {
  const [target, setTarget] = useState(account.id);
  const [endUser, setEndUser] = useState('');
  const chosen = target === 'end_user' ? (endUser.trim() ? `${account.id}:${endUser.trim()}` : null) : target;
  const path = chosen ? `/admin/limits/${encodeURIComponent(chosen)}` : null;
  const report = useQuery({
    queryKey: ['limits', chosen],
    queryFn: () => api<LimitsReport>(path!),
    enabled: path !== null,
  });
  return (
    <Section title="Caps and rate limits" id="limits-title">
      <div className="inline-form" aria-label="limits target">
        <label>
          For
          <select value={target} onChange={(event) => setTarget(event.target.value)} aria-label="limits for">
            <option value={account.id}>this account{account.parent_id ? ' (a team account)' : ''}</option>
            {keys
              .filter((key) => key.revoked_at === null && key.scope === 'user')
              .map((key) => (
                <option key={key.id} value={key.prefix}>
                  key {key.prefix}…{key.name ? ` (${key.name})` : ''}
                </option>
              ))}
            <option value="end_user">an end user…</option>
          </select>
        </label>
        {target === 'end_user' ? (
          <label>
            End user
            <input value={endUser} onChange={(event) => setEndUser(event.target.value)} placeholder="the call's user field" />
          </label>
        ) : null}
      </div>
      <ErrorNotice error={report.error} />
      {report.data && path ? <LimitsView report={report.data} path={path} unit={account.unit} /> : null}
    </Section>
  );
}

function LimitsView({ report, path, unit }: { report: LimitsReport; path: string; unit: Account['unit'] }) {
  const usage = report.usage;
  return (
    <>
      <div className="stats">
        <Stat
          label={report.soft ? 'Soft cap (alerts only)' : 'Spend cap'}
          value={report.cap === null ? 'none' : `${formatAmount(report.cap, unit)} per ${report.period}`}
          detail={report.cap === null ? undefined : `calendar ${report.period} in ${report.timezone ?? 'UTC'}`}
          testId="limits-cap"
        />
        <Stat
          label="Used this period"
          value={usage ? formatAmount(usage.used, usage.unit) : '–'}
          detail={usage ? `${formatAmount(usage.remaining, usage.unit)} left` : undefined}
          testId="limits-used"
        />
        <Stat
          label="Resets"
          value={usage ? (usage.resets_at ? formatTime(usage.resets_at) : 'never (total)') : '–'}
          detail={usage ? `period began ${formatTime(usage.period_start)}` : undefined}
        />
        <Stat
          label="Rate limits"
          value={[
            report.rpm === null ? null : `${report.rpm} req/min`,
            report.tpm === null ? null : `${report.tpm} tokens/min`,
            report.concurrency === null ? null : `${report.concurrency} at once`,
          ]
            .filter(Boolean)
            .join(' · ') || 'none'}
          testId="limits-rates"
        />
      </div>
      <LimitsForm report={report} path={path} unit={unit} />
    </>
  );
}

function LimitsForm({ report, path, unit }: { report: LimitsReport; path: string; unit: Account['unit'] }) {
  const client = useQueryClient();
  const [cap, setCap] = useState(report.cap ?? '');
  const [period, setPeriod] = useState<(typeof PERIODS)[number]>(report.period ?? 'month');
  const [timezone, setTimezone] = useState(report.timezone ?? 'UTC');
  const [soft, setSoft] = useState(report.soft);
  const [rpm, setRpm] = useState(report.rpm?.toString() ?? '');
  const [tpm, setTpm] = useState(report.tpm?.toString() ?? '');
  const [concurrency, setConcurrency] = useState(report.concurrency?.toString() ?? '');
  const [problem, setProblem] = useState<string | null>(null);
  // Another target chosen: the form shows its values.
  useEffect(() => {
    setCap(report.cap ?? '');
    setPeriod(report.period ?? 'month');
    setTimezone(report.timezone ?? 'UTC');
    setSoft(report.soft);
    setRpm(report.rpm?.toString() ?? '');
    setTpm(report.tpm?.toString() ?? '');
    setConcurrency(report.concurrency?.toString() ?? '');
  }, [report]);
  const save = useMutation({
    mutationFn: (body: Record<string, unknown>) => api<LimitsReport>(path, { method: 'PUT', body }),
    onSuccess: (saved) => client.setQueryData(['limits', decodeURIComponent(path.slice('/admin/limits/'.length))], saved),
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const capProblem = cap.trim() === '' ? null : amountProblem(cap, { signed: false });
    const counts = { 'requests per minute': rpm, 'tokens per minute': tpm, 'concurrent calls': concurrency };
    const countProblem = Object.entries(counts).find(([, value]) => value.trim() !== '' && !/^[1-9][0-9]*$/.test(value.trim()));
    const found = capProblem ? `cap: ${capProblem}` : countProblem ? `${countProblem[0]}: a whole number above 0, or empty for none` : null;
    setProblem(found);
    if (found) return;
    const count = (value: string) => (value.trim() === '' ? null : Number(value.trim()));
    save.mutate({
      cap: cap.trim() === '' ? null : cap.trim(),
      period,
      timezone: timezone.trim() || 'UTC',
      soft,
      rpm: count(rpm),
      tpm: count(tpm),
      concurrency: count(concurrency),
    });
  };
  return (
    <form className="stacked-form" onSubmit={onSubmit} aria-label="limits">
      <label>
        Spend cap ({unit === 'tokens' ? 'tokens' : 'USD'} per period; empty: none)
        <input name="cap" value={cap} onChange={(event) => setCap(event.target.value)} inputMode="decimal" />
      </label>
      <label>
        Period
        <select value={period} onChange={(event) => setPeriod(event.target.value as (typeof PERIODS)[number])}>
          {PERIODS.map((value) => (
            <option key={value} value={value}>
              {value}
            </option>
          ))}
        </select>
      </label>
      <label>
        Time zone (the calendar the period follows)
        <input value={timezone} onChange={(event) => setTimezone(event.target.value)} />
      </label>
      <label className="checkbox">
        <input type="checkbox" checked={soft} onChange={(event) => setSoft(event.target.checked)} /> Soft cap: alert, never refuse
      </label>
      <label>
        Requests per minute
        <input name="rpm" value={rpm} onChange={(event) => setRpm(event.target.value)} inputMode="numeric" />
      </label>
      <label>
        Tokens per minute
        <input name="tpm" value={tpm} onChange={(event) => setTpm(event.target.value)} inputMode="numeric" />
      </label>
      <label>
        Concurrent calls
        <input name="concurrency" value={concurrency} onChange={(event) => setConcurrency(event.target.value)} inputMode="numeric" />
      </label>
      <button type="submit" disabled={save.isPending}>
        Save limits
      </button>
      {problem ? <p className="notice error">{problem}</p> : null}
      <ErrorNotice error={save.error} />
      {save.isSuccess ? (
        <p className="notice good" role="status">
          Saved: every gateway applies it at its next call.
        </p>
      ) : null}
    </form>
  );
}
