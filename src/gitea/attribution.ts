/**
 * Which work item a Gitea request is made for. The tick runner and the relay run each item's work inside
 * `forItem(id, …)`; the client then sends `X-Damascus-Item: <id>` with every request, so a proxy, Gitea's
 * access log or the live suite can tell what each story cost. Nothing else reads it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

const current = new AsyncLocalStorage<number>();

export const ITEM_HEADER = 'X-Damascus-Item';

/** Runs `fn` with `itemId` as the item its Gitea requests are made for. */
export function forItem<T>(itemId: number, fn: () => Promise<T>): Promise<T> {
  return current.run(itemId, fn);
}

/** The item the current async context works for, if any. */
export function currentItem(): number | undefined {
  return current.getStore();
}
