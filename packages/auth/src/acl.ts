import { parse } from 'yaml';
import * as z from 'zod';
import type { Access } from './access.js';

const entry = z
  .strictObject({
    /** A user name, or "*" for any authenticated user. */
    account: z.string().min(1).optional(),
    /** Grants to clients without credentials. */
    anonymous: z.boolean().optional(),
    /** Grants to members of any of these directory groups (a group's DN or its cn), read at token time. */
    groups: z.array(z.string().min(1)).min(1).optional(),
    type: z.string().default('repository'),
    /** A glob: `*` stays within one path segment, `**` crosses them. */
    name: z.string().min(1),
    actions: z.array(z.string().min(1)).min(1),
  })
  .refine(
    (e) =>
      [e.account !== undefined, e.anonymous === true, e.groups !== undefined].filter(Boolean).length === 1,
    {
      message: 'each entry names an account, or groups, or says anonymous: true (one of them)',
    },
  );

const aclSchema = z.array(entry);
export type AclEntry = z.infer<typeof entry>;

function globToRegExp(glob: string): RegExp {
  const literal = (text: string) => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  const pattern = glob
    .split('**')
    .map((part) => part.split('*').map(literal).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${pattern}$`);
}

/** Who may do what: the token issuer's access control list (YAML). */
export class Acl {
  private readonly entries: (AclEntry & { pattern: RegExp })[];

  constructor(entries: AclEntry[]) {
    this.entries = entries.map((e) => ({ ...e, pattern: globToRegExp(e.name) }));
  }

  static parse(text: string, source = 'acl'): Acl {
    const result = aclSchema.safeParse(parse(text) ?? []);
    if (!result.success) {
      throw new Error(
        `${source}: ${result.error.issues.map((i) => `[${i.path.join('.')}] ${i.message}`).join('; ')}`,
      );
    }
    return new Acl(result.data);
  }

  /** Whether any entry grants by group membership (then the issuer reads the user's groups). */
  get namesGroups(): boolean {
    return this.entries.some((e) => e.groups !== undefined);
  }

  /**
   * The requested actions the account (undefined: anonymous) is allowed, as a member of `groups` (DNs and
   * names, compared without regard to case, as directories compare them).
   */
  allowed(account: string | undefined, access: Access, groups: readonly string[] = []): string[] {
    const granted = new Set<string>();
    const memberOf = new Set(groups.map((g) => g.toLowerCase()));
    for (const e of this.entries) {
      const who =
        account === undefined
          ? e.anonymous === true
          : e.account === '*' ||
            e.account === account ||
            (e.groups?.some((g) => memberOf.has(g.toLowerCase())) ?? false);
      if (who && e.type === access.type && e.pattern.test(access.name))
        for (const a of e.actions) granted.add(a);
    }
    return access.actions.filter((a) => granted.has(a) || granted.has('*'));
  }
}
