/**
 * Browser and OS families of a User-Agent header, for the risk engine's `ua-change` signal. A family is
 * all the signal needs (versions change with every update), so an ordered table of the families seen in
 * practice replaces a full parser (bowser, 34 KiB in every function that signs in). The names and the
 * order of the checks are bowser's, so families recorded before the switch compare equal; a browser
 * outside the table that builds on Chromium, Gecko or WebKit reports that engine's browser, any other
 * reports none (as an unknown agent did before).
 */
const BROWSERS: readonly (readonly [RegExp, string])[] = [
  [/opera|opr\/|opios/i, 'Opera'],
  [/SamsungBrowser/i, 'Samsung Internet for Android'],
  [/yabrowser/i, 'Yandex Browser'],
  [/ucbrowser/i, 'UC Browser'],
  [/msie|trident/i, 'Internet Explorer'],
  [/\sedg\/|edg(?:[ea]|ios)\//i, 'Microsoft Edge'],
  [/vivaldi/i, 'Vivaldi'],
  [/firefox|iceweasel|fxios/i, 'Firefox'],
  [/chromium/i, 'Chromium'],
  [/chrome|crios|crmo/i, 'Chrome'],
  [/^(?!.*like android).*android/i, 'Android Browser'],
  [/safari|applewebkit/i, 'Safari'],
];

const OPERATING_SYSTEMS: readonly (readonly [RegExp, string])[] = [
  [/windows phone/i, 'Windows Phone'],
  [/windows /i, 'Windows'],
  [/macintosh.*fxios/i, 'iOS'],
  [/macintosh/i, 'macOS'],
  [/ipod|iphone|ipad/i, 'iOS'],
  [/OpenHarmony/i, 'HarmonyOS'],
  [/^(?!.*like android).*android/i, 'Android'],
  [/linux/i, 'Linux'],
  [/CrOS/, 'Chrome OS'],
];

const firstMatch = (table: readonly (readonly [RegExp, string])[], userAgent: string): string | undefined =>
  table.find(([pattern]) => pattern.test(userAgent))?.[1];

/** Browser and OS families only: versions change with every update and are no signal. */
export function uaFamilies(userAgent: string): { browser?: string; os?: string } {
  const browser = firstMatch(BROWSERS, userAgent);
  const os = firstMatch(OPERATING_SYSTEMS, userAgent);
  return { ...(browser ? { browser } : {}), ...(os ? { os } : {}) };
}
