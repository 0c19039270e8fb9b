/**
 * The plugin's entry for the cluster runtime in this repository: what the
 * cluster needs beyond the public API (the options validator it extends with
 * its own keys, the checks it reuses for them, stats types). Not exported by
 * the package; applications use `ws-cluster` (plugin/index.ts).
 */
export {
  checkBoolean, checkDuration, checkEnum, checkInteger, checkObject, checkRecord, checkString,
  got, indexPath, isPlainObject, keyPath, suggestKey, type OptionProblem, type Problems
} from './options/option-checks.js'
export { describeValue, parseDuration, type Duration } from './options/duration.js'
export { PROXY_KEYS, resolveProxyOptions, validateOptions } from './options/options-validate.js'
export { TOP_DEFAULTS as PLUGIN_DEFAULTS } from './options/option-defaults.js'
export type { LimitsOptions, RouteOptions, UpstreamOptions, ResolvedOptions } from './options/options-types.js'
export type { UpstreamServerStats } from './upstream/upstream-server.js'
export { emptyRouteStats } from './proxy-stats.js'
export { hookModuleProblem } from './relay/hook-module.js'
export type { DnsNameStatus } from './upstream/dns-status.js'
export { checkUpstreamNames, type NameWarning } from './upstream/name-check.js'
export { ipKey, normalizeAddress, setClientAddress } from './client-identity.js'
export { TEMPLATE_VARIABLES, TEMPLATE_VARIABLES_TEXT } from './options/header-template.js'
export { isProxyOwnedHeader, PROXY_OWNED_HEADERS_TEXT } from './options/validate-route-headers.js'
export { WarningThrottle } from './warning-throttle.js'
