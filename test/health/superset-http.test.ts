import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { SupersetHttpCheck } from '../../src/health/superset-http.ts';
import { FakeSuperset } from '../support/fake-superset.ts';
import { freePort } from '../support/ports.ts';

describe('SupersetHttpCheck', () => {
  const fake = new FakeSuperset();
  let check: SupersetHttpCheck;

  beforeAll(async () => {
    check = new SupersetHttpCheck(await fake.start(), '/health');
  });
  afterAll(async () => {
    await check.close();
    await fake.close();
  });

  it('passes on 200 "OK" and sends no cookie', async () => {
    fake.mode = 'ok';
    await expect(check.run(AbortSignal.timeout(1000))).resolves.toBeUndefined();
    expect(fake.lastHeaders.cookie).toBeUndefined();
  });

  it.each([
    ['error500', ErrorCode.HEALTH_HTTP_STATUS],
    ['wrong-body', ErrorCode.HEALTH_HTTP_BODY],
    ['reset', ErrorCode.HEALTH_HTTP_UNREACHABLE],
    ['hang', ErrorCode.HEALTH_TIMEOUT],
  ] as const)('fails %s with %s', async (mode, code) => {
    fake.mode = mode;
    const started = Date.now();
    await expect(check.run(AbortSignal.timeout(300))).rejects.toMatchObject({ code });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('fails a refused connection as unreachable', async () => {
    const port = await freePort();
    const refused = new SupersetHttpCheck(`http://127.0.0.1:${port}`, '/health');
    await expect(refused.run(AbortSignal.timeout(1000))).rejects.toMatchObject({ code: ErrorCode.HEALTH_HTTP_UNREACHABLE });
    await refused.close();
  });
});
