/**
 * LLM adapters: one streaming interface (`stream({ messages, signal })` yields tokens; aborting closes the HTTP
 * request) over OpenAI-compatible servers, Azure OpenAI, Anthropic and a scripted model; retries, a circuit breaker
 * per provider and accounting; configuration from env; and a ready agent that acts on a Worldline world.
 */
export type { ChatMessage, LlmProvider, StreamRequest, Usage } from './types.js';
export { openAIProvider, type OpenAIOptions } from './openai.js';
export { anthropicProvider, type AnthropicOptions } from './anthropic.js';
export { scriptedProvider, seededRng, tokenize, type ScriptedOptions, type Rng } from './scripted.js';
export { Accounting, CircuitBreaker, breakerFor, resilient, type AccountingTotals, type BreakerOptions, type Pricing, type ResilienceOptions, type ResilientProvider } from './resilience.js';
export { LLM_ENV, providerFromEnv, type Env } from './config.js';
export { ProviderTimeoutError } from './stall.js';
export { ProviderStreamError, StreamProtocolError } from './http-errors.js';
export { checkSchema, parseIntent, type IntentSchemas, type JsonSchema, type ParsedIntent } from './schema.js';
export { LlmAgent, defaultPrompt, type LlmAgentOptions, type PromptInput } from './agent.js';
