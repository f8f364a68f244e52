import { describe, expect, it } from 'vitest';
import { EXIT, describeFailure } from './exit-codes.js';
import { AdminUnreachableError, ApiError, UsageError } from './errors.js';

const api = (status: number, code: string, message = 'm', problems: unknown[] = [], problemCount?: number) =>
  describeFailure(new ApiError(status, code, message, problems, problemCount), []);

describe('describeFailure: one exit code and one line per failure', () => {
  it("maps the API's error codes, never its messages", () => {
    expect(api(400, 'invalid_request', 'x', ['channels: must be a whole number'])).toEqual({
      code: EXIT.invalid,
      message: 'refused, nothing changed: --channels: must be a whole number',
    });
    expect(api(404, 'account_not_found', 'account "a" does not exist')).toEqual({ code: EXIT.notFound, message: 'account "a" does not exist' });
    expect(api(404, 'deck_not_found').code).toBe(EXIT.notFound);
    expect(api(409, 'account_exists').code).toBe(EXIT.exists);
    expect(api(409, 'payment_conflict').code).toBe(EXIT.conflict);
    expect(api(401, 'unauthorized').code).toBe(EXIT.unauthorized);
    expect(api(503, 'unavailable').code).toBe(EXIT.unavailable);
    expect(api(500, 'internal', 'secret detail')).toEqual({ code: EXIT.unavailable, message: 'the admin API failed unexpectedly (see its log)' });
    expect(api(413, 'payload_too_large').code).toBe(EXIT.invalid);
  });

  it('a code it does not know is a generic failure that still says what the API said', () => {
    expect(api(409, 'something_new', 'a rule it added')).toEqual({
      code: EXIT.unavailable,
      message: 'the admin API refused the request (409 something_new): a rule it added',
    });
  });

  it('a refused rate deck lists its lines, and says how many more there were', () => {
    const r = api(422, 'ratedeck_invalid', 'x', [{ line: 3, message: 'bad rate' }, { line: 7, message: 'bad prefix' }], 9);
    expect(r).toEqual({ code: EXIT.invalid, message: 'rate deck refused, nothing stored: line 3: bad rate; line 7: bad prefix (and 7 more)' });
  });

  it('the CLI\'s own failures', () => {
    expect(describeFailure(new UsageError(['--cps: must be a whole number']), [])).toEqual({ code: EXIT.invalid, message: 'refused, nothing sent: --cps: must be a whole number' });
    expect(describeFailure(new AdminUnreachableError('cannot reach\nthe API'), [])).toEqual({ code: EXIT.unavailable, message: 'cannot reach the API' });
    expect(describeFailure(new Error('boom'), []).code).toBe(EXIT.unavailable);
  });
});
