import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Secret } from '../secret.ts';

// zookeeper.auth in the sidecar's config: the digest identity every sidecar of a cluster shares, and the ACL
// policy for the nodes it creates. Kept apart from config-schema.ts so the ACL code can share the types.

export const ZK_READS = ['world', 'identity'] as const;
export type ZkReads = (typeof ZK_READS)[number];

const bool = () => z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

export const zkAuthSchema = z
  .strictObject({
    /** The digest user; with the secret it forms the identity `digest:<user>:<base64 sha1>`. */
    user: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9._-]'),
    /** The secret itself; prefer SHA_ZOOKEEPER__AUTH__SECRET or secretFile over writing it in a file. */
    secret: z.string().min(16, 'must be at least 16 characters').optional(),
    /** A file holding the secret (a mounted Kubernetes Secret); a trailing newline is ignored. */
    secretFile: z.string().min(1).optional(),
    /** Who may read the coordination nodes: anyone who can reach the ensemble, or only this identity. */
    reads: z.enum(ZK_READS).default('world'),
    /** Existing nodes whose ACL lets others write: rewrite their ACL instead of refusing to start. */
    fixOpenAcls: bool().default(false),
  })
  .transform((v, ctx) => {
    if ((v.secret === undefined) === (v.secretFile === undefined)) {
      ctx.issues.push({ code: 'custom', input: v, message: 'set exactly one of secret or secretFile' });
      return z.NEVER;
    }
    let secret = v.secret;
    if (secret === undefined) {
      try {
        secret = readFileSync(v.secretFile!, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        ctx.issues.push({ code: 'custom', input: v.secretFile, path: ['secretFile'], message: `cannot read ${v.secretFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
        return z.NEVER;
      }
      if (secret.length < 16) {
        ctx.issues.push({ code: 'custom', input: v.secretFile, path: ['secretFile'], message: 'the secret in the file must be at least 16 characters' });
        return z.NEVER;
      }
    }
    return { user: v.user, secret: new Secret(secret), reads: v.reads, fixOpenAcls: v.fixOpenAcls };
  });

export type ZkAuth = z.output<typeof zkAuthSchema>;
