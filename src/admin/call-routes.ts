/**
 * Live views: an account's calls on every switch, a switch's calls, and an account's usage (channels,
 * recent call rate, funds, burn rate, estimated depletion). Read-only; everything comes from Redis, where
 * every switch keeps its calls, except a switch's own calls, which it knows from its call registry.
 */
import type { FastifyInstance } from 'fastify';
import { AccountNotFoundError, ValidationError } from '../accounts/errors.js';
import { accountFundsView } from './account-view.js';
import { accountFromHash } from '../accounts/hash-codec.js';
import { idProblem, wholeNumber } from '../accounts/input-parsers.js';
import { formatUsd } from '../rating/money.js';
import {
  callView,
  countBySwitch,
  mapBounded,
  readAccountCalls,
  readCallsById,
  type CallRecord,
  type LiveCallView,
} from './calls.js';
import { catalogAccountIds, type RouteContext } from './context.js';
import { schemas } from './schemas.js';

/** The window of the "recent calls per second" figure of GET /v1/accounts/:id/usage. */
export const RECENT_CPS_WINDOW_SECONDS = 10;

const switchCallsLimit = wholeNumber(1, 10_000);

function refuse(...problems: (string | undefined)[]): void {
  const found = problems.filter((p): p is string => p !== undefined);
  if (found.length > 0) throw new ValidationError(found);
}

const byInviteTime = (a: LiveCallView, b: LiveCallView) =>
  (a.invitedAt ?? '').localeCompare(b.invitedAt ?? '') || a.callId.localeCompare(b.callId);

export function registerCallRoutes(api: FastifyInstance, ctx: RouteContext): void {
  const { redis, keys, bounded } = ctx;

  function reportUnreadable(accountId: string, unreadable: number): void {
    if (unreadable > 0) ctx.logger.warn({ accountId, unreadable }, 'live call records that could not be decoded were skipped');
  }

  api.get<{ Querystring: { accountId: string; switchId?: string } }>('/calls', { schema: schemas.accountCalls }, async (request) => {
    const { accountId, switchId } = request.query;
    refuse(idProblem(accountId, 'accountId'), switchId === undefined ? undefined : idProblem(switchId, 'switchId'));
    const [exists, live] = await bounded(() =>
      Promise.all([
        redis.exists(keys.account(accountId)),
        readAccountCalls(redis, keys, accountId, switchId === undefined ? undefined : (sw) => sw === switchId),
      ]),
    );
    if (!exists) throw new AccountNotFoundError(accountId);
    reportUnreadable(accountId, live.unreadable);
    const calls = live.records.map((r) => callView(accountId, r)).sort(byInviteTime);
    return { accountId, total: calls.length, bySwitch: countBySwitch(live.records), calls };
  });

  api.get<{ Params: { switchId: string }; Querystring: { limit?: string } }>(
    '/switches/:switchId/calls',
    { schema: schemas.switchCalls },
    async (request) => {
      const { switchId } = request.params;
      const limit = switchCallsLimit.safeParse(request.query.limit ?? 1000);
      refuse(idProblem(switchId, 'switchId'), ...(limit.success ? [] : limit.error.issues.map((i) => `limit: ${i.message}`)));
      const max = limit.data!;
      const own = switchId === ctx.config.switchId && ctx.registry !== undefined;
      const calls: LiveCallView[] = await bounded(async () => {
        let perAccount: { accountId: string; records: CallRecord[]; unreadable: number }[];
        if (own) {
          // this instance knows its calls: read just their records, one HMGET per account
          const byAccount = new Map<string, string[]>();
          for (const s of ctx.registry!.all()) {
            const list = byAccount.get(s.accountId);
            if (list) list.push(s.callId);
            else byAccount.set(s.accountId, [s.callId]);
          }
          perAccount = await mapBounded([...byAccount], ctx.scanConcurrency, async ([accountId, ids]) => ({
            accountId,
            ...(await readCallsById(redis, keys, accountId, ids)),
          }));
        } else {
          // another switch: its calls are in the calls hash of whichever account they belong to
          perAccount = await mapBounded(await catalogAccountIds(ctx), ctx.scanConcurrency, async (accountId) => ({
            accountId,
            ...(await readAccountCalls(redis, keys, accountId, (sw) => sw === switchId)),
          }));
        }
        const out: LiveCallView[] = [];
        for (const a of perAccount) {
          reportUnreadable(a.accountId, a.unreadable);
          for (const r of a.records) if (r.switchId === switchId) out.push(callView(a.accountId, r));
        }
        return out.sort(byInviteTime);
      });
      return {
        switchId,
        source: own ? 'registry' : 'redis',
        total: calls.length,
        truncated: calls.length > max,
        calls: calls.length > max ? calls.slice(0, max) : calls,
      };
    },
  );

  api.get<{ Params: { id: string } }>('/accounts/:id/usage', { schema: schemas.usage }, async (request) => {
    const { id } = request.params;
    refuse(idProblem(id));
    const [hash, live] = await bounded(() =>
      Promise.all([redis.hGetAll(keys.account(id)) as Promise<Record<string, string>>, readAccountCalls(redis, keys, id)]),
    );
    if (Object.keys(hash).length === 0) throw new AccountNotFoundError(id);
    reportUnreadable(id, live.unreadable);
    const account = accountFromHash(id, hash);
    const nowMs = ctx.now();
    const windowMs = RECENT_CPS_WINDOW_SECONDS * 1000;
    // Admission keeps no per-second history; calls still live that were invited within the window are the
    // rate we can see. Calls that already ended inside the window are not counted: a lower bound.
    const recentInvites = live.records.filter((r) => {
      const at = r.static.invitedAt;
      return at !== null && at > nowMs - windowMs && at <= nowMs + 1000;
    }).length;
    const funds = accountFundsView(account, hash, nowMs);
    const depletion = funds.estimate;
    const bySwitch = countBySwitch(live.records);
    return {
      accountId: id,
      at: new Date(nowMs).toISOString(),
      ...funds.fields,
      channels: { limitPerSwitch: account.channels, total: live.records.length, bySwitch },
      cps: {
        limit: account.cps,
        burst: account.burst,
        recent: recentInvites / RECENT_CPS_WINDOW_SECONDS,
        windowSeconds: RECENT_CPS_WINDOW_SECONDS,
        method: `live calls invited in the last ${RECENT_CPS_WINDOW_SECONDS} s / ${RECENT_CPS_WINDOW_SECONDS} (calls already ended are not counted)`,
      },
      burn: { perSecond: depletion.burnPerSecond, perHour: depletion.burnPerHour, perHourUsd: formatUsd(depletion.burnPerHour) },
      depletion: funds.depletion,
    };
  });
}
