/**
 * The relay hook of the `wsc-relay-pool` path: it does nothing, so that path
 * minus `wsc-relay-inline` (the same hook as a function) is what handing each
 * message to a pool thread and back costs.
 */
export function onMessage (): undefined {
  return undefined
}
