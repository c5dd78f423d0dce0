/**
 * The body of a provider's streamed answer, as both adapters read it: the SDK made the request (and its timeout bounded
 * the wait for the response's start), the adapter reads the event stream itself. One place for what that takes: the
 * caller's abort closes the HTTP stream (straight through http-fetch when it made the request, else through the SDK's
 * quiet controller), a silence of `timeoutMs` closes it the same way (StallTimer), and a 200 that is not an event
 * stream is refused with what it is.
 */
import { closeResponse } from './http-fetch.js';
import { StreamProtocolError } from './http-errors.js';
import { StallTimer } from './stall.js';
import { quietController, type RequestSignal } from './types.js';

export interface StreamBody {
  readonly response: Response;
  readonly controller: AbortController;
  readonly stall: StallTimer;
  /** True once the HTTP stream was closed through the response (else the controller still has to be closed). */
  readonly closed: () => boolean;
}

/** Takes over an SDK's answer ({data: its lazy Stream, response}) for reading by the adapter. */
export function streamBody(answer: { readonly data: { readonly controller: AbortController }; readonly response: Response }, request: RequestSignal, timeoutMs: number): StreamBody {
  const controller = answer.data.controller;
  const response = answer.response;
  quietController(controller);
  let closed = false;
  const close = (reason: unknown): void => {
    closed = closeResponse(response, reason);
    if (!closed) controller.abort();
  };
  request.attach(close);
  // A stream silent for timeoutMs is closed as an abort closes it, and fails with the timeout.
  return { response, controller, stall: new StallTimer(timeoutMs, close), closed: () => closed };
}

/**
 * Refuses a 200 that is not an event stream (a proxy's HTML page, a JSON answer from a server that ignored stream:
 * true): it has no tokens to give, and read as one it would end as an empty answer.
 */
export async function requireEventStream(response: Response): Promise<void> {
  const type = response.headers.get('content-type') ?? '';
  if (/^text\/event-stream\b/i.test(type)) return;
  const head = await response.text().then((t) => t.slice(0, 200), () => '');
  throw new StreamProtocolError(`the response is not an event stream (content-type ${JSON.stringify(type)}): ${JSON.stringify(head)}`);
}
