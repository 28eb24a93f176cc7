/** Share links: a token that lets whoever holds it read and follow one task or batch. */
import type { Options, ShareLink, ShareOptions } from '../types'
import { request } from './http'
import { settings } from './options'

const create = (path: string, so?: ShareOptions): Promise<ShareLink> =>
  request(settings(so), 'POST', path + 'share/', { expires_in: so?.expiresIn ?? undefined, can_cancel: !!so?.canCancel }).then(
    (l) => ({ token: l.token, expires: l.expires, canCancel: l.can_cancel }),
  )

const revoke = (path: string, token?: string | null, o?: Partial<Options>): Promise<number> =>
  request(settings(o), 'POST', path + 'share/revoke/', token ? { token } : {}).then((r) => r.revoked)

/**
 * Makes a share link to task `uuid` (`POST baseURL<uuid>/share/`): resolves
 * with its token (shown this once), when it expires, and whether its holder
 * may cancel. Only whoever may cancel the task can.
 */
export const share = (uuid: string, o?: ShareOptions) => create(uuid + '/', o)

/** Makes a share link to batch `uuid` and its tasks. */
export const shareBatch = (uuid: string, o?: ShareOptions) => create('batches/' + uuid + '/', o)

/** Revokes the share link `token` of task `uuid`, or all of them; resolves with how many were live. */
export const revokeShares = (uuid: string, token?: string | null, o?: Partial<Options>) => revoke(uuid + '/', token, o)

/** Revokes the share link `token` of batch `uuid`, or all of them. */
export const revokeBatchShares = (uuid: string, token?: string | null, o?: Partial<Options>) => revoke('batches/' + uuid + '/', token, o)
