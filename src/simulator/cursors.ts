import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a cursor carries; the client sees it only as an opaque signed string. */
export interface CursorPayload {
  /** Offset of the page this cursor asks for. */
  readonly o: number;
  /** Serial number of the cursor, for expiry. */
  readonly t: number;
  /** Offset to continue at after this page, when it is not o + limit (after an out-of-order page). */
  readonly n?: number;
  /** The offset of this cursor's partner in a cursor cycle: the next cursor asks for that page. */
  readonly y?: number;
}

/**
 * Issues and checks the opaque cursors of paged list-jobs. They are signed with a secret of this
 * server, so a cursor that was changed, made up or issued by another server is refused, as the API
 * refuses them.
 */
export class Cursors {
  private readonly secret = randomBytes(32);
  /** Cursors issued so far: the serial of the next one. */
  private issued = 0;
  /** Cursors with a serial below this are expired. */
  private expiredBefore = 0;

  /** A new cursor for `payload`, with a serial later than any before it. */
  issue(payload: Omit<CursorPayload, 't'>): string {
    this.issued += 1;
    return this.sign({ ...payload, t: this.issued });
  }

  /**
   * The first cursor of a cycle between the pages at offsets `a` and `b`: its page's next cursor is
   * `partnerOf` it, whose page's next cursor is this one again, the same string every time.
   */
  issueCycle(a: number, b: number): string {
    this.issued += 1;
    return this.sign({ o: a, t: this.issued, y: b });
  }

  /** The other cursor of the cycle `payload` belongs to. */
  partnerOf(payload: CursorPayload & { readonly y: number }): string {
    return this.sign({ o: payload.y, t: payload.t, y: payload.o });
  }

  /** The payload of a cursor this server issued, or null for anything else. */
  verify(cursor: string): CursorPayload | null {
    const [body, signature, extra] = cursor.split('.');
    if (body === undefined || signature === undefined || extra !== undefined) return null;
    const given = Buffer.from(signature, 'base64url');
    const expected = this.mac(body);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    const payload = JSON.parse(Buffer.from(body, 'base64url').toString()) as CursorPayload;
    return Number.isSafeInteger(payload.o) && payload.o >= 0 ? payload : null;
  }

  /** Expires every cursor issued so far; those issued from now on stay good. */
  expireIssued(): void {
    this.expiredBefore = this.issued + 1;
  }

  isExpired(payload: CursorPayload): boolean {
    return payload.t < this.expiredBefore;
  }

  private sign(payload: CursorPayload): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(body).toString('base64url')}`;
  }

  private mac(body: string): Buffer {
    return createHmac('sha256', this.secret).update(body).digest().subarray(0, 12);
  }
}
