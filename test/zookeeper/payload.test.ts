import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.ts';
import { decodePayload, encodePayload, type ReplicaPayload } from '../../src/zookeeper/payload.ts';

const good: ReplicaPayload = {
  id: 'superset-0',
  url: 'http://10.0.0.5:8088',
  zone: 'eu-1a',
  weight: 100,
  version: '0.1.0',
  startedAt: '2026-11-24T05:00:00.000Z',
};

describe('replica payload', () => {
  it('round-trips', () => {
    expect(decodePayload('superset-0', encodePayload(good))).toEqual(good);
  });

  it.each([
    ['empty', Buffer.alloc(0), /empty/],
    ['not JSON', Buffer.from('{"id":'), /not JSON/],
    ['wrong type', Buffer.from(JSON.stringify({ ...good, weight: 'heavy' })), /weight/],
    ['unknown field', Buffer.from(JSON.stringify({ ...good, extra: 1 })), /schema/],
    ['non-http url', Buffer.from(JSON.stringify({ ...good, url: 'file:///etc/passwd' })), /url/],
    ['url with credentials', Buffer.from(JSON.stringify({ ...good, url: 'http://admin:secret@10.0.0.5:8088' })), /user:password/],
    ['url with a user', Buffer.from(JSON.stringify({ ...good, url: 'http://admin@10.0.0.5:8088' })), /user:password/],
    ['id mismatch', Buffer.from(JSON.stringify({ ...good, id: 'superset-9' })), /does not match/],
    ['oversized', Buffer.alloc(20_000, 0x20), /exceeds/],
  ])('rejects %s with SHA_ZK_BAD_PAYLOAD', (_name, data, reason) => {
    expect(() => decodePayload('superset-0', data)).toThrow(expect.objectContaining({ code: ErrorCode.ZK_BAD_PAYLOAD, message: expect.stringMatching(reason) as unknown }));
  });
});
