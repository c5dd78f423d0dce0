/**
 * Provider configuration from environment variables (documented in docs/sdk.md). Nothing set means the scripted
 * model, so demos and tests run without a network or a key.
 */
import { WorldlineError } from '../../server/errors.js';
import { anthropicProvider } from './anthropic.js';
import { openAIProvider } from './openai.js';
import { resilient, type ResilientProvider } from './resilience.js';
import { scriptedProvider, type ScriptedOptions } from './scripted.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** Every variable read, with its meaning (docs/sdk.md lists the same). */
export const LLM_ENV = {
  WORLDLINE_LLM_PROVIDER: 'scripted (default), openai (also vLLM, llama.cpp, Ollama by base URL), azure, or anthropic',
  WORLDLINE_LLM_MODEL: 'model name (Azure: the deployment); default gpt-4o-mini / claude-3-5-haiku-latest',
  WORLDLINE_LLM_BASE_URL: 'API base URL, e.g. http://127.0.0.1:11434/v1 for Ollama (Azure: the resource endpoint)',
  WORLDLINE_LLM_API_KEY: 'API key; falls back to OPENAI_API_KEY, AZURE_OPENAI_API_KEY or ANTHROPIC_API_KEY',
  WORLDLINE_LLM_AZURE_API_VERSION: 'Azure OpenAI api-version (default 2024-10-21, also when set empty)',
  WORLDLINE_LLM_MAX_TOKENS: 'largest answer in tokens (default 256)',
  WORLDLINE_LLM_TEMPERATURE: 'sampling temperature (provider default when unset)',
  WORLDLINE_LLM_TIMEOUT_MS: 'the longest the provider may stay silent: the wait for the response to start, then each wait between two chunks of its stream; a stream that keeps coming is not cut (default 60000)',
  WORLDLINE_LLM_INCLUDE_USAGE: 'openai: ask for usage in the stream: true or false, 1 or 0, any case (default true; set false for servers that refuse stream_options)',
  WORLDLINE_LLM_RETRIES: 'retries on 429, 5xx, connection failures, timeouts and overload error events in the stream, before the first token (default 3)',
  WORLDLINE_LLM_RETRY_BASE_MS: 'first backoff delay, doubled per retry, capped at 8000 (default 250)',
  WORLDLINE_LLM_MAX_RETRY_AFTER_MS: 'longest retry-after wait a server may ask for, honoured as asked; a longer one fails at once with details.retry_after_ms (default 60000)',
  WORLDLINE_LLM_BREAKER_FAILURES: 'consecutive failed attempts (429, 5xx, no connection, timeouts, overload error events; retries count) that open the circuit breaker (default 5)',
  WORLDLINE_LLM_BREAKER_COOLDOWN_MS: 'how long the breaker stays open (default 30000)',
  WORLDLINE_LLM_PRICE_INPUT: 'USD per million input tokens, for cost accounting (default 0)',
  WORLDLINE_LLM_PRICE_OUTPUT: 'USD per million output tokens (default 0)',
  WORLDLINE_LLM_TOKEN_BUDGET: 'total tokens this process may spend per provider; past it TOKEN_BUDGET_EXCEEDED (default unlimited)',
  WORLDLINE_LLM_SEED: 'scripted model seed (default 42)',
} as const;

function num(env: Env, name: keyof typeof LLM_ENV, def: number | undefined, min = 0, integer = false): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) throw new WorldlineError('CONFIG_INVALID', `${name} must be a ${integer ? 'whole ' : ''}number >= ${min}, got ${JSON.stringify(raw)}; ${LLM_ENV[name]}`, { key: name });
  return v;
}

/** A count (tokens, retries, failures): a fraction would reach the provider as a 400 (max_tokens 1.5) or be rounded silently. */
function count(env: Env, name: keyof typeof LLM_ENV, def: number | undefined, min = 0): number | undefined {
  return num(env, name, def, min, true);
}

/** A boolean variable: true/false or 1/0 in any case; unset or empty is `def`; anything else is refused, not read as true. */
function bool(env: Env, name: keyof typeof LLM_ENV, def: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const v = raw.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new WorldlineError('CONFIG_INVALID', `${name} must be true or false (or 1 / 0), got ${JSON.stringify(raw)}; ${LLM_ENV[name]}`, { key: name });
}

/** The configured provider, wrapped with retries, breaker, budget and accounting. */
export function providerFromEnv(env: Env = (globalThis as { process?: { env: Env } }).process?.env ?? {}, scripted: ScriptedOptions = {}): ResilientProvider {
  // Empty means unset, as for every variable here (a shell's `export WORLDLINE_LLM_MODEL=` must not send model "").
  const kind = (env['WORLDLINE_LLM_PROVIDER'] || 'scripted').toLowerCase();
  const model = env['WORLDLINE_LLM_MODEL'] || undefined;
  const baseURL = env['WORLDLINE_LLM_BASE_URL'] || undefined;
  if (baseURL !== undefined && !/^https?:$/.test(URL.canParse(baseURL) ? new URL(baseURL).protocol : '')) {
    throw new WorldlineError('CONFIG_INVALID', `WORLDLINE_LLM_BASE_URL must be an http:// or https:// URL, got ${JSON.stringify(baseURL)}; ${LLM_ENV.WORLDLINE_LLM_BASE_URL}`, { key: 'WORLDLINE_LLM_BASE_URL' });
  }
  const maxTokens = count(env, 'WORLDLINE_LLM_MAX_TOKENS', 256, 1);
  const temperature = num(env, 'WORLDLINE_LLM_TEMPERATURE', undefined);
  const timeoutMs = num(env, 'WORLDLINE_LLM_TIMEOUT_MS', 60_000, 1);
  const key = (...names: string[]): string | undefined => [env['WORLDLINE_LLM_API_KEY'], ...names.map((n) => env[n])].find((v) => v !== undefined && v !== '');
  const common = { ...(maxTokens !== undefined ? { maxTokens } : {}), ...(temperature !== undefined ? { temperature } : {}), ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
  const opt = <T>(k: string, v: T | undefined): Record<string, T> => (v === undefined ? {} : { [k]: v });
  let base;
  if (kind === 'scripted') {
    base = scriptedProvider({ ...scripted, seed: num(env, 'WORLDLINE_LLM_SEED', scripted.seed ?? 42) ?? 42 });
  } else if (kind === 'openai' || kind === 'azure') {
    const apiKey = key('OPENAI_API_KEY', 'AZURE_OPENAI_API_KEY');
    // Azure has no local servers: it always needs its resource endpoint and a key (the SDK would name its own arguments).
    if (kind === 'azure' && !baseURL) throw new WorldlineError('CONFIG_INVALID', 'WORLDLINE_LLM_PROVIDER=azure needs WORLDLINE_LLM_BASE_URL (the resource endpoint, https://NAME.openai.azure.com) and WORLDLINE_LLM_API_KEY (or AZURE_OPENAI_API_KEY)', { key: 'WORLDLINE_LLM_BASE_URL' });
    if (kind === 'azure' && !apiKey) throw new WorldlineError('CONFIG_INVALID', 'WORLDLINE_LLM_PROVIDER=azure needs WORLDLINE_LLM_API_KEY (or AZURE_OPENAI_API_KEY)', { key: 'WORLDLINE_LLM_API_KEY' });
    if (!apiKey && !baseURL) throw new WorldlineError('CONFIG_INVALID', 'WORLDLINE_LLM_PROVIDER=openai needs WORLDLINE_LLM_API_KEY (or OPENAI_API_KEY), or WORLDLINE_LLM_BASE_URL for a local server', { key: 'WORLDLINE_LLM_API_KEY' });
    base = openAIProvider({
      model: model ?? 'gpt-4o-mini',
      ...common,
      ...opt('baseURL', baseURL),
      ...opt('apiKey', apiKey),
      // Empty means unset, as for the numeric variables: an empty api-version would make the provider plain OpenAI.
      ...(kind === 'azure' ? { azureApiVersion: env['WORLDLINE_LLM_AZURE_API_VERSION'] || '2024-10-21' } : {}),
      includeUsage: bool(env, 'WORLDLINE_LLM_INCLUDE_USAGE', true),
    });
  } else if (kind === 'anthropic') {
    const apiKey = key('ANTHROPIC_API_KEY');
    if (!apiKey && !baseURL) throw new WorldlineError('CONFIG_INVALID', 'WORLDLINE_LLM_PROVIDER=anthropic needs WORLDLINE_LLM_API_KEY (or ANTHROPIC_API_KEY)', { key: 'WORLDLINE_LLM_API_KEY' });
    base = anthropicProvider({ model: model ?? 'claude-3-5-haiku-latest', ...common, ...opt('baseURL', baseURL), ...opt('apiKey', apiKey) });
  } else {
    throw new WorldlineError('CONFIG_INVALID', `WORLDLINE_LLM_PROVIDER must be scripted, openai, azure or anthropic, got ${JSON.stringify(kind)}`, { key: 'WORLDLINE_LLM_PROVIDER' });
  }
  const budget = count(env, 'WORLDLINE_LLM_TOKEN_BUDGET', undefined, 1);
  return resilient(base, {
    retries: count(env, 'WORLDLINE_LLM_RETRIES', 3) ?? 3,
    baseDelayMs: num(env, 'WORLDLINE_LLM_RETRY_BASE_MS', 250) ?? 250,
    maxRetryAfterMs: num(env, 'WORLDLINE_LLM_MAX_RETRY_AFTER_MS', 60_000) ?? 60_000,
    breaker: { failureThreshold: count(env, 'WORLDLINE_LLM_BREAKER_FAILURES', 5, 1) ?? 5, cooldownMs: num(env, 'WORLDLINE_LLM_BREAKER_COOLDOWN_MS', 30_000) ?? 30_000 },
    pricing: { inputPerMTok: num(env, 'WORLDLINE_LLM_PRICE_INPUT', 0) ?? 0, outputPerMTok: num(env, 'WORLDLINE_LLM_PRICE_OUTPUT', 0) ?? 0 },
    ...(budget !== undefined ? { tokenBudget: budget } : {}),
  });
}
