/** The JSON-lines protocol of host events: what is taken, what is answered, bounded lines. */
import { describe, expect, it } from '@jest/globals';
import { PassThrough } from 'node:stream';
import { InputDevice, keyboard } from '@vmv/input';
import { MAX_LINE, applyLine, feedLines, statusLine } from '@vmv/vhost-user-input';

describe('host events as JSON lines', () => {
  it('takes single events (type by number or name) and batches; answers refusals with one error line and takes nothing', () => {
    const d = new InputDevice({ description: keyboard() });
    expect(applyLine(d, '{"type":"EV_KEY","code":30,"value":1}')).toBeNull();
    expect(applyLine(d, '{"type":0,"code":0}')).toBeNull();
    expect(applyLine(d, '[{"type":1,"code":30,"value":0},{"type":"EV_SYN","code":0,"value":0}]')).toBeNull();
    expect(applyLine(d, '   ')).toBeNull();
    expect(d.stats.queued).toBe(4);
    const refusals: [string, RegExp][] = [
      ['{nope', /not JSON/], ['{"type":"EV_BOGUS","code":1}', /unknown event type/], ['{"type":2,"code":0,"value":1}', /not in the device's description/],
      ['[{"type":1,"code":30,"value":1}]', /last event must be EV_SYN/], ['{"type":1,"code":"a"}', /must be numbers/], ['5', /an event is an object/],
    ];
    for (const [line, re] of refusals) {
      const answer = applyLine(d, line);
      expect(JSON.parse(answer!).error).toMatch(re);
      expect(answer!.endsWith('\n')).toBe(true);
    }
    expect(d.stats.queued).toBe(4);
    expect(JSON.parse(applyLine(d, '{"stats":true}')!).stats).toMatchObject({ queued: 4, backlog: 4 });
    expect(statusLine({ type: 17, code: 1, value: 1 })).toBe('{"status":{"type":17,"code":1,"value":1}}\n');
  });

  it('feeds a stream split anywhere; a line over the bound is refused and skipped, the next one taken', async () => {
    const d = new InputDevice({ description: keyboard() });
    const input = new PassThrough();
    const out = new PassThrough();
    let answers = '';
    out.setEncoding('utf8');
    out.on('data', (t: string) => (answers += t));
    feedLines(d, input, out);
    const text = '{"type":1,"code":30,"value":1}\n{"type":0,"code":0,"value":0}\n';
    for (const ch of text) input.write(ch);
    input.write(`${'x'.repeat(MAX_LINE + 10)}`);
    input.write(`${'x'.repeat(100)}\n{"type":1,"code":30,"value":0}\n[{"type":0,"code":0,"value":0}]\n`);
    await new Promise((r) => setImmediate(r));
    expect(d.stats.queued).toBe(4);
    expect(answers).toBe(`{"error":"line longer than ${MAX_LINE} bytes, dropped"}\n`);
  });
});
