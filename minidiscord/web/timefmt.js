// Message timestamps as Discord shows them: "Today at 14:05", "Yesterday at 09:30", or the
// date and time ("12/24/2026, 18:00", in the reader's locale).

const pad = (n) => String(n).padStart(2, "0");

function dayNumber(date) {
  // Local calendar day, so "today" flips at local midnight, not at UTC midnight.
  return Math.round(new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime() / 86400000);
}

/** "14:05": the time of day alone, beside a message that continues a group. */
export function formatClock(timestamp) {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? "" : `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** @param {number} timestamp milliseconds since the epoch; @param {Date} now */
export function formatTimestamp(timestamp, now = new Date()) {
  const date = new Date(timestamp);
  if (Number.isNaN(date.getTime())) return "";
  const clock = formatClock(timestamp);
  const days = dayNumber(now) - dayNumber(date);
  if (days === 0) return `Today at ${clock}`;
  if (days === 1) return `Yesterday at ${clock}`;
  // Older ones keep their time too, as the original front end showed them.
  return `${date.toLocaleDateString(undefined, { year: "numeric", month: "2-digit", day: "2-digit" })}, ${clock}`;
}

export function isoTimestamp(timestamp) {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}
