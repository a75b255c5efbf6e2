// The accounts' HTTP API (/api/...): JSON in and out, the login in the HttpOnly cookie the
// server sets, which this page never reads (a script injected into it could not either).

const API_TIMEOUT_MS = 15000;

/**
 * GET `/api/<route>` (no body) or POST it `body` as JSON. Resolves to `{ok, status, data}`
 * where `data` is the server's object; a network failure or a non-JSON answer is
 * `{ok: false, status: 0, data: {error}}`, never an exception.
 */
export async function callApi(route, body = undefined) {
  const options = { credentials: "same-origin", cache: "no-store", signal: AbortSignal.timeout(API_TIMEOUT_MS) };
  if (body !== undefined) {
    options.method = "POST";
    options.headers = { "content-type": "application/json" };
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/${route}`, options);
  } catch {
    return { ok: false, status: 0, data: { error: "the server cannot be reached" } };
  }
  let data;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (data === null || typeof data !== "object") {
    return { ok: false, status: response.status, data: { error: `the server answered ${response.status}` } };
  }
  return { ok: response.ok && data.ok === true, status: response.status, data };
}

/**
 * A refusal as one sentence: the server's reason (a throttled request's says when it may
 * come again: "too many wrong passwords for this account; try again in 30 s").
 */
export function describeRefusal({ status, data }) {
  const reason = typeof data?.error === "string" && data.error ? data.error : `the server answered ${status}`;
  return `${reason[0].toUpperCase()}${reason.slice(1)}.`;
}
