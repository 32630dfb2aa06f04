import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** What a cursor carries; the client sees it only as an opaque signed string. */
export interface CursorPayload {
  /** Offset of the page this cursor asks for. */
  readonly o: number;
  /** Serial number of the cursor, for expiry. */
  readonly t: number;
  /** Offset to continue at after this page, when it is not o + limit (after an out-of-order page). */
  readonly n?: number;
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
