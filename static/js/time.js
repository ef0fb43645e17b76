// Times arrive as Unix milliseconds (UTC); the page shows local time.

const pad = (n) => String(n).padStart(2, '0');

/** Local `HH:MM:SS`. */
export function hms(ms) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** ISO-8601 for a `<time datetime>`. */
export function iso(ms) {
  return new Date(ms).toISOString();
}

/** A key that is equal for two times on the same local day. */
export function dayKey(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

/** "Today", "Yesterday" or a date, for day dividers. */
export function dayLabel(ms) {
  const now = Date.now();
  if (dayKey(ms) === dayKey(now)) return 'Today';
  if (dayKey(ms) === dayKey(now - 86400000)) return 'Yesterday';
  const d = new Date(ms);
  const sameYear = d.getFullYear() === new Date(now).getFullYear();
  return d.toLocaleDateString(undefined, {
    weekday: 'long', month: 'long', day: 'numeric', ...(sameYear ? {} : { year: 'numeric' }),
  });
}

/** Full local date and time, for tooltips. */
export function longTime(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'medium' });
}

const UNITS = [['day', 86400000], ['hour', 3600000], ['minute', 60000]];

/** "in 7 days", "in 3 hours", "in 5 minutes" (or "… ago"), in the page's language. */
export function relative(ms, now = Date.now()) {
  const diff = ms - now;
  const fmt = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(diff) >= size) return fmt.format(Math.round(diff / size), unit);
  }
  return fmt.format(Math.round(diff / 1000), 'second');
}
