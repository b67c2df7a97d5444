// Who is who: organizations and their members' roles, from the ledger.
import { get } from "./api";

export interface Org {
  id: string;
  name: string;
  type: string;
  did: string;
  active: boolean;
}

export interface Member {
  org: string;
  did: string;
  roles: string[];
}

export interface Directory {
  orgs: Org[];
  members: Member[];
  orgName(id: string): string;
  describe(did: string): string;
}

let cached: Promise<Directory> | null = null;

export function directory(): Promise<Directory> {
  if (!cached) {
    cached = (async () => {
      const { organizations } = await get<{ organizations: Org[] }>("/v1/orgs");
      const lists = await Promise.all(organizations.map((o) => get<{ members: Member[] }>(`/v1/orgs/${encodeURIComponent(o.id)}/members`)));
      const members = lists.flatMap((l) => l.members || []);
      const names = new Map(organizations.map((o) => [o.id, o.name]));
      return {
        orgs: organizations,
        members,
        orgName: (id: string) => names.get(id) || id,
        describe(did: string) {
          const ms = members.filter((m) => m.did === did);
          if (ms.length === 0) return "";
          return ms.map((m) => `${m.roles.join(", ")} at ${names.get(m.org) || m.org}`).join("; ");
        },
      };
    })();
    cached.catch(() => (cached = null));
  }
  return cached;
}

/** Practitioners a patient may grant access to (clinical roles). */
export function practitioners(d: Directory): Member[] {
  const clinical = new Set(["physician", "nurse", "pharmacist", "practitioner", "researcher"]);
  return d.members.filter((m) => m.roles.some((r) => clinical.has(r)));
}
