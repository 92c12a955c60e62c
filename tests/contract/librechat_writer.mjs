// Writes a small, realistic LibreChat database through LibreChat's own data layer
// (@librechat/data-schemas: createModels + createMethods), one phase per call, and prints on
// stdout a JSON record of what it meant to write, for tests/test_contract.py's oracle.
//
//   node librechat_writer.mjs PHASE --uri MONGODB_URI --db DATABASE --context FILE
//
// PHASE is seed, steady, delete or import. The context file carries the ids one phase leaves
// for the next (users, agents, conversations); seed creates it. Every document is written by a
// method of the package, never by a raw insert: the point is to see documents exactly as
// LibreChat writes them.
//
// The record lists, per document the phase meant to create, the labels and amounts it should
// count under (see RECORD below); it is written from what the calls were asked to do and
// LibreChat's documented semantics (prices from the package's own rate tables, x1.15 for a
// cancelled completion), never read back from the database.
//
// Where the issue names a method 0.0.71 lacks: auto refill has no method of its own, it is
// applied inside reserveBalance (a due refill when a reservation would overdraw), so the
// script reserves to trigger it; credits granted by an admin go through createTransaction
// (tokenType "credits"), as LibreChat's add-balance script does; the conversation import is
// bulkSaveConvos + bulkSaveMessages(messages, true), as LibreChat's importer calls them.
//
// LibreChat 0.8's collections (see features() below): memories through createMemory /
// setMemory / deleteMemory; MCP servers through createMCPServer; the marketplace through
// ensureDefaultCategories / createCategory / updateCategory, and a promotion through
// updateAgent (0.0.71 has no promote method: LibreChat's admin sets is_promoted with an agent
// update); schedules through createScheduleWithSlot / updateScheduleById /
// markScheduleDeleting, their runs through the engine's own calls, reserveStartedRun (fire),
// recordRunOutcome (settle or pause) and recordSkippedRun (a skip); the admin audit log through
// recordAuditEntry. 0.0.71 has no method that shares a resource: createSharedLink writes the
// link and createAgent / createMCPServer the resource, and LibreChat's API (@librechat/api's
// permission service) then grants through grantPermission with a role of seedDefaultRoles;
// the script does the same. No method sets a file's preview status either: the background
// render writes it with updateFile, as here, and the start-up sweep (sweepOrphanedPreviews)
// fails the pending files it finds too old.

import crypto from 'node:crypto';
import fs from 'node:fs';
import mongoose from 'mongoose';
import { CANCEL_RATE, createMethods, createModels } from '@librechat/data-schemas';
import { RetentionMode, feedbackSchema } from 'librechat-data-provider';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const MAX_SCHEDULES_PER_USER = 5; // LibreChat's per-user schedule cap (schedules.maxPerUser)
const FAILURES_BEFORE_DISABLE = 3; // the engine's autoDisableAfterFailures
const BALANCE_SKIPS_BEFORE_DISABLE = 2; // the engine's balanceSkipDisableThreshold

// ---- the stand-ins for what @librechat/api injects into createMethods ----------------------
// LibreChat's findMatchingPattern picks the rate-table key contained in the model name; this one
// takes the longest such key, so "gpt-4o-mini" prices as gpt-4o-mini, not gpt-4o.
function findMatchingPattern(model, values) {
  const lower = String(model).toLowerCase();
  let best;
  for (const key of Object.keys(values)) {
    if (lower.includes(key) && (best === undefined || key.length > best.length)) best = key;
  }
  return best;
}
const matchModelName = (model) => model;

// ---- arguments, connection, models ----------------------------------------------------------
function parseArgs(argv) {
  const [phase, ...rest] = argv;
  const opts = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (!rest[i].startsWith('--') || rest[i + 1] === undefined) {
      throw new Error(`bad argument ${rest[i]}`);
    }
    opts[rest[i].slice(2)] = rest[i + 1];
  }
  if (!PHASES[phase]) throw new Error(`unknown phase ${phase}; one of ${Object.keys(PHASES)}`);
  if (!opts.uri || !opts.db || !opts.context) throw new Error('--uri, --db and --context are required');
  return { phase, ...opts };
}

// ---- the record ------------------------------------------------------------------------------
// RECORD: {phase, finished_ms,
//   messages: [{endpoint, role, model, error, unfinished, finish_reason, agent_id, tools}],
//     model is the LLM the message counts under (an agent's configured model for agent
//     messages, "none" for user messages); tools: [[tool, mcp_server, failed]]
//   spends: [{model, context, token_type, tokens, kinds, usd, agent_id}]  one per transaction
//   credits: [{context, amount}], conversations: [{endpoint}], files: [{source, context, bytes}],
//   users: [{provider}], notes: [..],
//   schedule_runs: [{status, duration_ms}]  one per run settled in the phase (a run fired in
//     one phase and settled in a later one is in the later one's record),
//   audit: [{category, outcome, severity}]  one per audit log entry}
function newRecord(phase) {
  return { phase, messages: [], spends: [], credits: [], conversations: [], files: [],
    users: [], notes: [], schedule_runs: [], audit: [] };
}

class Writer {
  constructor(methods, ctx, record) {
    this.m = methods;
    this.ctx = ctx;
    this.rec = record;
  }

  async user(key, data, balanceConfig, disableTTL = true) {
    const id = await this.m.createUser(data, balanceConfig, disableTTL);
    this.ctx.users[key] = String(id);
    this.rec.users.push({ provider: data.provider ?? 'local' });
    return String(id);
  }

  /** A new conversation saved as LibreChat saves it on its first message. */
  async convo(key, userKey, fields, options = {}) {
    const conversationId = crypto.randomUUID();
    this.ctx.convos[key] = { id: conversationId, user: userKey, ...fields,
      interfaceConfig: options.interfaceConfig };
    await this.m.saveConvo({ userId: this.ctx.users[userKey], isTemporary: options.isTemporary,
      interfaceConfig: options.interfaceConfig },
      { conversationId, title: 'New Chat', ...fields }, { context: 'contract test' });
    this.rec.conversations.push({ endpoint: fields.endpoint ?? 'none' });
    return conversationId;
  }

  /** One user message and the assistant's answer in a conversation, then the conversation
   *  saved again (its messages list and title). `answer` holds the answer's own fields;
   *  `counts` overrides what the record expects where LibreChat's fields differ from it. */
  async turn(convoKey, answer = {}, options = {}) {
    const convo = this.ctx.convos[convoKey];
    const userId = this.ctx.users[convo.user];
    const ctx = { userId, isTemporary: options.isTemporary,
      interfaceConfig: convo.interfaceConfig };
    const question = crypto.randomUUID();
    await this.m.saveMessage(ctx, {
      messageId: question, conversationId: convo.id, parentMessageId: options.parent
        ?? '00000000-0000-0000-0000-000000000000', sender: 'User', text: 'a question',
      isCreatedByUser: true, endpoint: convo.endpoint, tokenCount: 12, model: null,
    }, { context: 'contract test: question' });
    this.message(convo.endpoint, 'user', 'none', {});
    const reply = crypto.randomUUID();
    const model = answer.model ?? convo.model;
    await this.m.saveMessage(ctx, {
      messageId: reply, conversationId: convo.id, parentMessageId: question,
      sender: answer.sender ?? 'Assistant', text: answer.text ?? 'an answer',
      isCreatedByUser: false, endpoint: convo.endpoint, model, tokenCount: 40,
      ...answer.fields,
    }, { context: 'contract test: answer' });
    const agent = convo.endpoint === 'agents' ? this.ctx.agents[model] : undefined;
    this.message(convo.endpoint, 'assistant', agent ? agent.model : model, {
      ...answer.counts, agent_id: agent ? model : null });
    await this.m.saveConvo(ctx, { conversationId: convo.id, endpoint: convo.endpoint,
      ...(options.title ? { title: options.title } : {}) }, { context: 'contract test: turn' });
    return { question, reply };
  }

  message(endpoint, role, model, counts) {
    this.rec.messages.push({
      endpoint: endpoint ?? 'none', role, model, error: counts.error ?? false,
      unfinished: counts.unfinished ?? false,
      finish_reason: role === 'assistant' ? counts.finish_reason ?? 'none' : null,
      agent_id: counts.agent_id ?? null, tools: counts.tools ?? [],
    });
  }

  agentOf(convoKey) {
    const convo = convoKey ? this.ctx.convos[convoKey] : undefined;
    return convo && convo.agent_id && this.ctx.agents[convo.agent_id] ? convo.agent_id : null;
  }

  /** spendTokens: a prompt and a completion transaction at LibreChat's rates. */
  async spend(convoKey, userKey, model, context, prompt, completion) {
    const convo = convoKey ? this.ctx.convos[convoKey] : undefined;
    const tx = { user: this.ctx.users[userKey], conversationId: convo?.id, model, context,
      balance: { enabled: true } };
    await this.m.spendTokens(tx, { promptTokens: prompt, completionTokens: completion });
    const agent = this.agentOf(convoKey);
    const promptRate = this.m.getMultiplier({ model, tokenType: 'prompt', inputTokenCount: prompt });
    this.rec.spends.push({ model, context, token_type: 'prompt', tokens: prompt,
      kinds: { uncached_prompt: prompt }, usd: (prompt * promptRate) / 1e6, agent_id: agent });
    this.completion(model, context, completion, prompt, agent);
  }

  /** spendStructuredTokens: a cache-aware prompt (input, cache write, cache read). */
  async spendCached(convoKey, userKey, model, context, input, write, read, completion) {
    const convo = this.ctx.convos[convoKey];
    const tx = { user: this.ctx.users[userKey], conversationId: convo.id, model, context,
      balance: { enabled: true } };
    await this.m.spendStructuredTokens(tx, { promptTokens: { input, write, read },
      completionTokens: completion });
    const total = input + write + read;
    const rate = this.m.getMultiplier({ model, tokenType: 'prompt', inputTokenCount: total });
    const cacheRate = (cacheType) => this.m.getCacheMultiplier({ model, cacheType,
      inputTokenCount: total }) ?? rate;
    const usd = (input * rate + write * cacheRate('write') + read * cacheRate('read')) / 1e6;
    const agent = this.agentOf(convoKey);
    this.rec.spends.push({ model, context, token_type: 'prompt', tokens: total,
      kinds: { uncached_prompt: input, cache_write: write, cache_read: read }, usd,
      agent_id: agent });
    this.completion(model, context, completion, total, agent);
  }

  completion(model, context, tokens, promptTokens, agent) {
    const rate = this.m.getMultiplier({ model, tokenType: 'completion',
      inputTokenCount: promptTokens });
    let value = tokens * rate;
    // LibreChat bills a cancelled answer's completion at CANCEL_RATE, rounded to whole credits
    // towards zero (Math.ceil of the negative amount it stores).
    if (context === 'incomplete') value = -Math.ceil(-value * CANCEL_RATE);
    this.rec.spends.push({ model, context, token_type: 'completion', tokens,
      kinds: { completion: tokens }, usd: value / 1e6, agent_id: agent });
  }

  /** Feedback as LibreChat's API stores it, checked by its own schema first (a tag is a
   *  reason key that matches the rating). */
  async feedback(userKey, messageId, feedback) {
    await this.m.updateMessage(this.ctx.users[userKey], { messageId,
      feedback: feedbackSchema.parse(feedback) });
  }

  async file(userKey, key, fields) {
    const file_id = crypto.randomUUID();
    this.ctx.files[key] = file_id;
    await this.m.createFile({ user: this.ctx.users[userKey], file_id, object: 'file',
      filename: `${key}.bin`, filepath: `/uploads/${file_id}`, ...fields }, true);
    this.rec.files.push({ source: fields.source ?? 'local', context: fields.context ?? 'none',
      bytes: fields.bytes });
    return file_id;
  }

  /** A schedule as LibreChat's API creates one: in its owner's lowest free slot. */
  async schedule(key, userKey, agentId, fields = {}) {
    const id = `sched_${crypto.randomUUID()}`;
    const created = await this.m.createScheduleWithSlot({ id, user: this.ctx.users[userKey],
      name: key, prompt: `the ${key} prompt`, agent_id: agentId,
      cadence: { frequency: 'daily', hour: 8, minute: 0 }, timezone: 'Europe/Berlin',
      nextRunAt: new Date(Date.now() + DAY), ...fields }, MAX_SCHEDULES_PER_USER);
    if (created === 'limit') throw new Error(`${userKey} is at the schedule limit`);
    // Occurrences an hour apart, back from a day ago: distinct {scheduleId, scheduledFor}.
    this.ctx.schedules[key] = { id, user: userKey, first: Date.now() - DAY, occurrences: 0 };
    return id;
  }

  nextOccurrence(key) {
    const s = this.ctx.schedules[key];
    s.occurrences += 1;
    return new Date(s.first + s.occurrences * HOUR).toISOString();
  }

  /** The engine firing a schedule's next occurrence: a started run in the lowest free
   *  capacity slot, at the schedule's configRevision, `agoMs` before now by the engine's
   *  clock (firedAt is the caller's). Returns the occurrence. */
  async fire(key, agoMs = 0) {
    const s = this.ctx.schedules[key];
    const schedule = await this.m.getScheduleById(s.id);
    const { takenSlots } = await this.m.getCapacityOccupancy();
    let slot = 0;
    while (takenSlots.includes(slot)) slot += 1;
    const scheduledFor = this.nextOccurrence(key);
    const reserved = await this.m.reserveStartedRun({ scheduleId: s.id,
      user: this.ctx.users[s.user], scheduledFor: new Date(scheduledFor),
      firedAt: new Date(Date.now() - agoMs),
      capacitySlot: slot, configRevision: schedule.configRevision });
    if (!reserved.run) throw new Error(`${key} did not fire: ${reserved.conflict}`);
    return scheduledFor;
  }

  /** recordRunOutcome: a fired run settled (or paused, requires_action, not settled). The
   *  record takes it when it settles, with the time it took (0 where none was recorded). */
  async settle(key, scheduledFor, status, durationMs) {
    const s = this.ctx.schedules[key];
    await this.m.recordRunOutcome({ scheduleId: s.id, scheduledFor: new Date(scheduledFor),
      status, durationMs, autoDisableAfterFailures: FAILURES_BEFORE_DISABLE,
      balanceSkipDisableThreshold: BALANCE_SKIPS_BEFORE_DISABLE,
      ...(status === 'error' ? { error: 'the model provider returned 503' } : {}) });
    await this.runIs(s.id, scheduledFor, status);
    if (status !== 'requires_action') {
      this.rec.schedule_runs.push({ status, duration_ms: durationMs ?? 0 });
    }
  }

  /** recordSkippedRun: an occurrence not run (overlap, or no balance), settled at once. */
  async skip(key, status) {
    const s = this.ctx.schedules[key];
    const schedule = await this.m.getScheduleById(s.id);
    const scheduledFor = this.nextOccurrence(key);
    await this.m.recordSkippedRun({ scheduleId: s.id, user: this.ctx.users[s.user],
      scheduledFor: new Date(scheduledFor), status, configRevision: schedule.configRevision },
    BALANCE_SKIPS_BEFORE_DISABLE);
    await this.runIs(s.id, scheduledFor, status);
    this.rec.schedule_runs.push({ status, duration_ms: 0 });
  }

  /** LibreChat's guarded writes do nothing where a guard fails: make sure this one landed. */
  async runIs(scheduleId, scheduledFor, status) {
    const run = await this.m.getScheduleRunAbortState(scheduleId, new Date(scheduledFor));
    if (run?.status !== status) {
      throw new Error(`run ${scheduleId}@${scheduledFor} is ${run?.status}, not ${status}`);
    }
  }

  /** recordAuditEntry, failing closed; the record with LibreChat's documented defaults: the
   *  category is the action's namespace, severity warning for failure/denied, else info. */
  async audit(action, actorKey, target, outcome, severity) {
    await this.m.recordAuditEntry({ action, outcome, severity,
      actor: { type: 'user', id: this.ctx.users[actorKey], name: actorKey }, target,
      context: { requestId: crypto.randomUUID(), ip: '203.0.113.7' } }, { failClosed: true });
    const result = outcome ?? 'success';
    this.rec.audit.push({ category: action.split('.')[0], outcome: result,
      severity: severity ?? (result === 'failure' || result === 'denied' ? 'warning' : 'info') });
  }

  /** grantPermission as LibreChat's permission service calls it: a role's bits and id. */
  async grant(principalType, principalId, resourceType, resourceId, roleKey, grantedBy,
    expiredAt) {
    const role = await this.m.findRoleByIdentifier(roleKey);
    if (!role) throw new Error(`no access role ${roleKey}`);
    await this.m.grantPermission(principalType, principalId, resourceType, resourceId,
      role.permBits, grantedBy, undefined, role._id, expiredAt);
  }
}

// ---- the phases --------------------------------------------------------------------------

const TOOL_FAILED = 'Error processing tool fetch_mcp_browser: the page did not load in time';

async function seed(w) {
  const { m, ctx } = w;
  // Users with balances (LibreChat creates the balance with the account in balance mode).
  await w.user('alice', { email: 'alice@example.org', name: 'Alice', username: 'alice',
    provider: 'local', emailVerified: true, role: 'USER', password: 'x'.repeat(60) },
  { enabled: true, startBalance: 5_000_000 });
  await w.user('bob', { email: 'bob@example.org', name: 'Bob', provider: 'google',
    googleId: 'g-1001', emailVerified: true, role: 'USER' },
  { enabled: true, startBalance: 20_000, autoRefillEnabled: true, refillIntervalValue: 1,
    refillIntervalUnit: 'days', refillAmount: 1_000_000 });
  await w.user('carol', { email: 'carol@example.org', name: 'Carol', provider: 'openid',
    openidId: 'oid-7', emailVerified: true, role: 'ADMIN' },
  { enabled: true, startBalance: 50_000_000 });
  await w.user('dave', { email: 'dave@example.org', name: 'Dave', provider: 'local',
    emailVerified: false, role: 'USER', password: 'y'.repeat(60) },
  { enabled: true, startBalance: 0 }, false); // an unverified sign-up: expiresAt, no balance
  await w.user('erin', { email: 'erin@example.org', name: 'Erin', provider: 'github',
    githubId: 'gh-42', emailVerified: true, role: 'USER' },
  { enabled: true, startBalance: 50_000 });
  await w.user('gina', { email: 'gina@example.org', name: 'Gina', username: 'gina',
    provider: 'local', emailVerified: true, role: 'USER', password: 'z'.repeat(60) },
  { enabled: true, startBalance: 2_000 }); // spends past it below: LibreChat stops at 0

  // Sessions: two alive, one expired (the suite's mongod runs without its TTL monitor).
  await m.createSession(ctx.users.alice);
  await m.createSession(ctx.users.carol, { expiresIn: 3_600_000 });
  await m.createSession(ctx.users.bob, { expiration: new Date(Date.now() - 60_000) });

  // Agents with their LLMs; one with MCP tools, one updated to another model before use.
  const research = 'agent_contractResearch01';
  const writer = 'agent_contractWriter0001';
  const researchDoc = await m.createAgent({ id: research, name: 'Research helper', provider: 'openAI',
    model: 'gpt-4o', author: ctx.users.carol, category: 'research',
    tools: ['web_search', 'search_issues_mcp_github', 'fetch_mcp_browser'] });
  const writerDoc = await m.createAgent({ id: writer, name: 'Writer', provider: 'anthropic',
    model: 'claude-sonnet-4-5', author: ctx.users.carol, tools: [] });
  await m.updateAgent({ id: writer }, { model: 'claude-opus-4-5',
    description: 'writes long answers' }, { updatingUserId: ctx.users.carol });
  ctx.agents[research] = { model: 'gpt-4o', _id: String(researchDoc._id) };
  ctx.agents[writer] = { model: 'claude-opus-4-5', _id: String(writerDoc._id) };
  const github = await m.createMCPServer({ config: { title: 'GitHub', type: 'streamable-http',
    url: 'http://127.0.0.1:1/mcp' }, author: ctx.users.carol });
  ctx.mcpServers = { github: String(github._id) };

  // openAI chat: two turns, a title, finish reasons.
  await w.convo('alice_gpt', 'alice', { endpoint: 'openAI', model: 'gpt-4o' });
  const first = await w.turn('alice_gpt', { fields: { finish_reason: 'stop' },
    counts: { finish_reason: 'stop' } });
  await w.spend('alice_gpt', 'alice', 'gpt-4o', 'message', 1200, 350);
  await w.spend('alice_gpt', 'alice', 'gpt-4o-mini', 'title', 150, 12);
  await w.turn('alice_gpt', { fields: { finish_reason: 'length' },
    counts: { finish_reason: 'length' } }, { parent: first.reply, title: 'Tides' });
  await w.spend('alice_gpt', 'alice', 'gpt-4o', 'message', 1800, 4096);
  await w.feedback('alice', first.reply, { rating: 'thumbsUp', tag: 'clear_well_written' });

  // anthropic chat: prompt caching (write, then read), a summary, a thumbs down with a tag.
  await w.convo('bob_claude', 'bob', { endpoint: 'anthropic', model: 'claude-sonnet-4-5' });
  const cached = await w.turn('bob_claude');
  await w.spendCached('bob_claude', 'bob', 'claude-sonnet-4-5', 'message', 300, 9000, 0, 500);
  await w.turn('bob_claude', {}, { parent: cached.reply });
  await w.spendCached('bob_claude', 'bob', 'claude-sonnet-4-5', 'message', 250, 0, 9000, 420);
  await w.spend('bob_claude', 'bob', 'claude-haiku-4-5', 'summarization', 5000, 300);
  await w.feedback('bob', cached.reply, { rating: 'thumbsDown', tag: 'not_matched',
    text: 'wrong topic' });
  ctx.deletable = 'bob_claude';

  // An agent with tools and MCP tools (one failing), its tool-call records, its spends.
  await w.convo('carol_agent', 'carol', { endpoint: 'agents', agent_id: research,
    model: research });
  const calls = [
    ['web_search', 'none', false, 'three results'],
    ['search_issues', 'github', false, '2 issues'],
    ['fetch', 'browser', true, TOOL_FAILED],
  ];
  const content = [{ type: 'text', text: 'looking it up' }, ...calls.map(([tool, server, , output], i) => ({
    type: 'tool_call', tool_call: { id: `call_${i}`, type: 'tool_call', progress: 1,
      name: server === 'none' ? tool : `${tool}_mcp_${server}`, args: '{}', output } }))];
  const agentTurn = await w.turn('carol_agent', { sender: 'Research helper', text: '',
    fields: { content }, counts: { tools: calls.map(([t, s, f]) => [t, s, f]) } });
  for (const [i] of calls.entries()) {
    await m.createToolCall({ conversationId: ctx.convos.carol_agent.id,
      messageId: agentTurn.reply, toolId: `call_${i}`, user: ctx.users.carol,
      result: calls[i][3] });
  }
  await w.spend('carol_agent', 'carol', 'gpt-4o', 'message', 2200, 640);
  await w.spend('carol_agent', 'carol', 'gpt-4o-mini', 'title', 180, 9);
  await w.feedback('carol', agentTurn.reply, { rating: 'thumbsUp', tag: 'accurate_reliable' });

  // The updated agent answers under its new LLM.
  await w.convo('carol_writer', 'carol', { endpoint: 'agents', agent_id: writer, model: writer });
  await w.turn('carol_writer', { sender: 'Writer' });
  await w.spend('carol_writer', 'carol', 'claude-opus-4-5', 'message', 900, 1500);

  // A cancelled answer: saved unfinished, its completion billed at LibreChat's cancel rate.
  await w.convo('alice_cancel', 'alice', { endpoint: 'openAI', model: 'gpt-4o-mini' });
  await w.turn('alice_cancel', { fields: { unfinished: true }, counts: { unfinished: true } });
  await w.spend('alice_cancel', 'alice', 'gpt-4o-mini', 'incomplete', 700, 333);

  // A provider error, saved as LibreChat saves it: error true and an error content part.
  await w.convo('bob_gemini', 'bob', { endpoint: 'google', model: 'gemini-2.5-flash' });
  await w.turn('bob_gemini', { text: '', fields: { error: true,
    content: [{ type: 'error', error: 'quota exceeded' }] }, counts: { error: true } });

  // A user with little balance asks for more than it covers: updateBalance keeps it at 0.
  await w.convo('gina_gpt', 'gina', { endpoint: 'openAI', model: 'gpt-4o' });
  await w.turn('gina_gpt');
  await w.spend('gina_gpt', 'gina', 'gpt-4o', 'message', 1_000, 500);

  // A custom endpoint, and a temporary chat.
  await w.convo('erin_router', 'erin', { endpoint: 'OpenRouter', endpointType: 'custom',
    model: 'meta-llama/llama-3.1-70b-instruct' });
  await w.turn('erin_router');
  await w.spend('erin_router', 'erin', 'meta-llama/llama-3.1-70b-instruct', 'message', 400, 220);
  await w.convo('alice_temp', 'alice', { endpoint: 'openAI', model: 'gpt-4o-mini' },
    { isTemporary: true });
  await w.turn('alice_temp', {}, { isTemporary: true });
  await w.spend('alice_temp', 'alice', 'gpt-4o-mini', 'message', 90, 60);

  // A LibreChat whose retention mode dates every chat (0.8.6+): an expiredAt on a chat that
  // is not temporary.
  await w.convo('erin_retained', 'erin', { endpoint: 'openAI', model: 'gpt-4o-mini' },
    { interfaceConfig: { retentionMode: RetentionMode.ALL, generalChatRetention: 2160 } });
  await w.turn('erin_retained');
  await w.spend('erin_retained', 'erin', 'gpt-4o-mini', 'message', 120, 45);

  // An archived chat.
  await w.convo('erin_archived', 'erin', { endpoint: 'openAI', model: 'gpt-4o-mini' });
  await w.turn('erin_archived');
  await m.saveConvo({ userId: ctx.users.erin }, { conversationId: ctx.convos.erin_archived.id,
    isArchived: true }, { context: 'archive' });

  // Files: an attachment, an image, a RAG upload embedded in the vector store, an agent file.
  await w.file('alice', 'attachment', { bytes: 24_576, type: 'application/pdf',
    source: 'local', context: 'message_attachment', embedded: false,
    conversationId: ctx.convos.alice_gpt.id });
  await w.file('bob', 'image', { bytes: 183_201, type: 'image/png', source: 'local',
    context: 'message_attachment', width: 640, height: 480 });
  await w.file('carol', 'rag', { bytes: 1_048_576, type: 'text/plain', source: 'vectordb',
    context: 'message_attachment', embedded: true });
  await w.file('carol', 'agent_file', { bytes: 4_096, type: 'text/csv', source: 'local',
    context: 'agents' });

  // Credits: an admin grant, and an auto refill applied by a reservation that would overdraw
  // Bob's balance; one reservation of Alice's stays in flight.
  await m.createTransaction({ user: ctx.users.carol, tokenType: 'credits', context: 'admin',
    rawAmount: 2_000_000, balance: { enabled: true } });
  w.rec.credits.push({ context: 'admin', amount: 2_000_000 });
  // Bob's balance was last refilled two days ago (an account older than this database): his
  // daily refill is due.
  await m.upsertBalanceFields(ctx.users.bob, { lastRefill: new Date(Date.now() - 2 * DAY) });
  const refill = await m.reserveBalance({ user: ctx.users.bob, reservationId: 'r-bob-1',
    amount: 300_000, expiresAt: new Date(Date.now() + 600_000) });
  if (!refill?.reserved) throw new Error(`the auto refill did not happen: ${JSON.stringify(refill)}`);
  w.rec.credits.push({ context: 'autoRefill', amount: 1_000_000 });
  await m.releaseBalanceReservation({ user: ctx.users.bob, reservationId: 'r-bob-1',
    amount: 300_000 });
  const held = await m.reserveBalance({ user: ctx.users.alice, reservationId: 'r-alice-1',
    amount: 25_000, expiresAt: new Date(Date.now() + 3_600_000) });
  if (!held?.reserved) throw new Error('alice could not reserve');
  ctx.steady = 0;
  await seedFeatures(w, research, writer);
}

/** LibreChat 0.8's collections: memories, a second MCP server, the marketplace, shares,
 *  schedules and their runs, the admin audit log, files with a preview status. */
async function seedFeatures(w, research, writer) {
  const { m, ctx } = w;
  const { users, agents } = ctx;
  // Memories: Alice keeps three (one in the research agent's partition), Bob one.
  await m.createMemory({ userId: users.alice, key: 'preferred_language', value: 'French',
    tokenCount: 4 });
  await m.createMemory({ userId: users.alice, key: 'job_title', value: 'oceanographer',
    tokenCount: 6 });
  await m.createMemory({ userId: users.alice, key: 'open_questions', value: 'tides in March',
    tokenCount: 9, agentId: research });
  await m.createMemory({ userId: users.bob, key: 'timezone', value: 'Europe/Lisbon',
    tokenCount: 7 });

  const browser = await m.createMCPServer({ config: { title: 'Browser', type: 'sse',
    url: 'http://127.0.0.1:2/sse' }, author: ctx.users.carol });
  ctx.mcpServers.browser = String(browser._id);

  // The marketplace: LibreChat's built-in categories, a custom one the research agent is
  // in, a built-in one retired, and the research agent promoted by the admin.
  await m.ensureDefaultCategories();
  await m.createCategory({ value: 'research', label: 'Research', description: 'finds things',
    order: 10, custom: true });
  await m.updateCategory('aftersales', { isActive: false });
  await m.updateAgent({ id: research }, { is_promoted: true }, { updatingUserId: users.carol });

  // Sharing, as LibreChat's permission service grants it: owners, the research agent shared
  // with every USER and with a group, the GitHub server's owner, Alice's public shared link,
  // and a share with Bob that has expired (the suite's mongod runs no TTL monitor).
  await m.seedDefaultRoles();
  await w.grant('user', users.carol, 'agent', agents[research]._id, 'agent_owner', users.carol);
  await w.grant('user', users.carol, 'agent', agents[writer]._id, 'agent_owner', users.carol);
  await w.grant('role', 'USER', 'agent', agents[research]._id, 'agent_viewer', users.carol);
  const team = await m.createGroup({ name: 'Research team', source: 'local',
    memberIds: [users.alice, users.erin] });
  await w.grant('group', team._id, 'agent', agents[research]._id, 'agent_editor', users.carol);
  await w.grant('user', users.carol, 'mcpServer', ctx.mcpServers.github, 'mcpServer_owner',
    users.carol);
  await w.grant('user', users.bob, 'agent', agents[writer]._id, 'agent_viewer', users.carol,
    new Date(Date.now() - 60_000));
  const share = await m.createSharedLink(users.alice, ctx.convos.alice_gpt.id);
  ctx.share = share._id;
  await w.grant('user', users.alice, 'sharedLink', share._id, 'sharedLink_owner', users.alice);
  await w.grant('public', null, 'sharedLink', share._id, 'sharedLink_viewer', users.alice);

  // Schedules: Alice's daily digest on the research agent, Bob's report on the writer (Bob is
  // short of balance), Erin's disabled by Erin after a failed run, Carol's being deleted.
  await w.schedule('digest', 'alice', research);
  await w.schedule('report', 'bob', writer, { cadence: { frequency: 'weekly', hour: 9,
    minute: 30, daysOfWeek: [1] } });
  await w.schedule('erin_cron', 'erin', research, { cadence: { frequency: 'cron',
    expression: '*/30 * * * *' } });
  await w.schedule('carol_old', 'carol', writer);
  const done = await w.fire('digest');
  await w.settle('digest', done, 'success', 4_200);
  ctx.paused = await w.fire('digest');
  await w.settle('digest', ctx.paused, 'requires_action'); // waits for a tool approval
  // A long run, fired ten minutes ago (more than the job's --lag before its first run), still
  // going when the job runs: it counts when it settles, in the next phase, not by firedAt.
  ctx.running = await w.fire('digest', 10 * 60_000);
  await w.skip('report', 'skipped_balance');
  const failed = await w.fire('erin_cron');
  await w.settle('erin_cron', failed, 'error', 900);
  await m.updateScheduleById(ctx.schedules.erin_cron.id, users.erin, { enabled: false });
  await m.markScheduleDeleting(ctx.schedules.carol_old.id, users.carol);

  // The admin audit log: Carol's grants, one failing; Bob denied twice, once critical.
  const bobTarget = { type: 'user', id: users.bob, name: 'bob' };
  await w.audit('grant.assigned', 'carol', bobTarget);
  await w.audit('permission.insights_assigned', 'carol', { type: 'role', name: 'USER' });
  await w.audit('grant.assigned', 'carol', { type: 'group', id: team._id, name: 'team' },
    'failure');
  await w.audit('grant.assigned', 'bob', { type: 'user', id: users.bob, name: 'bob' }, 'denied');
  await w.audit('grant.removed', 'bob', { type: 'user', id: users.carol, name: 'carol' },
    'denied', 'critical');

  // Code-execution documents whose previews render in the background: one rendered, one
  // still pending, one that failed.
  for (const key of ['report_ready', 'report_pending', 'report_failed']) {
    await w.file('carol', key, { bytes: 30_000, type: 'application/pdf', source: 'local',
      context: 'execute_code', status: 'pending', conversationId: ctx.convos.carol_agent.id });
  }
  await m.updateFile({ file_id: ctx.files.report_ready, status: 'ready' });
  await m.updateFile({ file_id: ctx.files.report_failed, status: 'failed',
    previewError: 'render timed out' });
}

/** A steady phase's share of the 0.8 collections: a run settled in each (the one left
 *  running, fired before), the next fired, a memory rewritten, an audit entry, previews. */
async function steadyFeatures(w, n) {
  const { m, ctx } = w;
  // The seed's ten-minute run succeeds; the one fired in steady 1 fails after 3 s.
  await w.settle('digest', ctx.running, n === 1 ? 'success' : 'error',
    n === 1 ? 600_000 + n : 3_000 + n);
  ctx.running = await w.fire('digest');
  if (n === 1) {
    // Bob's second skip for lack of balance: LibreChat disables the schedule.
    await w.skip('report', 'skipped_balance');
  } else {
    // The paused run's approval never came: it is interrupted after a minute.
    await w.settle('digest', ctx.paused, 'interrupted', 61_000);
  }
  await m.setMemory({ userId: ctx.users.alice, key: 'job_title', value: `oceanographer ${n}`,
    tokenCount: 6 + n });
  await w.audit('grant.assigned', n === 1 ? 'carol' : 'erin',
    { type: 'user', id: ctx.users.erin, name: 'erin' }, n === 1 ? 'success' : 'denied');
  if (n === 1) await m.updateFile({ file_id: ctx.files.report_pending, status: 'ready' });
  await w.file('alice', `preview${n}`, { bytes: 2_000 * n, type: 'application/pdf',
    source: 'local', context: 'execute_code', status: 'pending' });
}

/** The deletion phase: a memory forgotten, the public link revoked, an overlapping fire
 *  skipped, an audit entry for a removed grant. */
async function deleteFeatures(w) {
  const { m, ctx } = w;
  await m.deleteMemory({ userId: ctx.users.bob, key: 'timezone' });
  await m.revokePermission('public', null, 'sharedLink', ctx.share);
  await w.skip('digest', 'skipped_overlap'); // the digest fired in the last steady run is running
  await w.audit('grant.removed', 'carol', { type: 'user', id: ctx.users.bob, name: 'bob' });
  w.rec.notes.push('deleted memory timezone, revoked the public share');
}

async function steady(w) {
  const { ctx } = w;
  ctx.steady += 1;
  const n = ctx.steady;
  await w.turn('alice_gpt', { fields: { finish_reason: 'stop' },
    counts: { finish_reason: 'stop' } });
  await w.spend('alice_gpt', 'alice', 'gpt-4o', 'message', 2000 + n, 100 + n);
  await w.turn('bob_claude');
  await w.spendCached('bob_claude', 'bob', 'claude-sonnet-4-5', 'message', 40, 0, 9300, 80 + n);
  await w.turn('carol_agent', { sender: 'Research helper', fields: { content: [
    { type: 'tool_call', tool_call: { id: `call_s${n}`, type: 'tool_call', progress: 1,
      name: 'search_issues_mcp_github', args: '{}', output: 'none found' } }] },
  counts: { tools: [['search_issues', 'github', false]] } });
  await w.spend('carol_agent', 'carol', 'gpt-4o', 'message', 2500, 90);
  await w.user(`frank${n}`, { email: `frank${n}@example.org`, name: 'Frank', provider: 'ldap',
    ldapId: `f${n}`, emailVerified: true, role: 'USER' }, { enabled: true, startBalance: 1000 });
  await w.file(`frank${n}`, `upload${n}`, { bytes: 512 * n, type: 'image/jpeg',
    source: 'local', context: 'avatar' });
  await steadyFeatures(w, n);
}

async function remove(w) {
  const { m, ctx } = w;
  // A user deletes a chat (with its messages and its feedback); another deletes a file. The
  // transactions stay, as in LibreChat. Counters must not go down.
  const convo = ctx.convos[ctx.deletable];
  await m.deleteConvos(ctx.users[convo.user], { conversationId: convo.id });
  await m.deleteFile(ctx.files.image);
  w.rec.notes.push(`deleted conversation ${ctx.deletable} and file image`);
  // Life goes on in the same run.
  await w.turn('erin_router');
  await w.spend('erin_router', 'erin', 'meta-llama/llama-3.1-70b-instruct', 'message', 300, 120);
  await deleteFeatures(w);
}

/** LibreChat's conversation import: bulkSaveConvos with the original timestamps, then
 *  bulkSaveMessages(messages, true), which keeps each message's createdAt and gives it a new
 *  _id (so the job counts it now, and the finished days it belongs to change). */
async function importChats(w) {
  const { m, ctx } = w;
  const now = Date.now();
  const chats = [
    { user: 'alice', at: new Date(now - DAY), model: 'gpt-4o', turns: 3 },
    { user: 'bob', at: new Date(now - 27 * DAY), model: 'gpt-4o-mini', turns: 2 },
    // Frank's history from elsewhere, his last chat 20 days old: by its dates a user active
    // in the last 30 days and not in the last 7, a churned user as LibreChat's Insights
    // counts them (by the messages' createdAt).
    { user: 'frank1', at: new Date(now - 20 * DAY), model: 'gpt-4o-mini', turns: 1 },
  ];
  const convos = [];
  const messages = [];
  for (const chat of chats) {
    const conversationId = crypto.randomUUID();
    const userId = ctx.users[chat.user];
    let parent = '00000000-0000-0000-0000-000000000000';
    for (let t = 0; t < chat.turns; t++) {
      for (const role of ['user', 'assistant']) {
        const messageId = crypto.randomUUID();
        const createdAt = new Date(chat.at.getTime() + (2 * t + (role === 'user' ? 0 : 1)) * 60_000);
        messages.push({ messageId, conversationId, parentMessageId: parent, user: userId,
          endpoint: 'openAI', isCreatedByUser: role === 'user', sender: role === 'user' ? 'User' : 'GPT-4',
          model: role === 'user' ? null : chat.model, text: `${role} text`, unfinished: false,
          error: false, isTemporary: false, createdAt, updatedAt: createdAt });
        w.message('openAI', role, role === 'user' ? 'none' : chat.model, {});
        parent = messageId;
      }
    }
    const last = new Date(chat.at.getTime() + 2 * chat.turns * 60_000);
    convos.push({ conversationId, user: userId, title: 'Imported chat', endpoint: 'openAI',
      model: chat.model, isArchived: false, isTemporary: false, createdAt: chat.at, updatedAt: last });
    w.rec.conversations.push({ endpoint: 'openAI' });
  }
  await m.bulkSaveConvos(convos);
  await m.bulkSaveMessages(messages, true);
  // Meanwhile the digest fired in the last steady phase finishes, after it was skipped once.
  await w.settle('digest', ctx.running, 'success', 5_500);
}

const PHASES = { seed, steady, delete: remove, import: importChats };

// ---- main ------------------------------------------------------------------------------------
async function main() {
  const args = parseArgs(process.argv.slice(2));
  process.env.JWT_REFRESH_SECRET ||= crypto.randomBytes(16).toString('hex');
  const ctx = args.phase === 'seed'
    ? { users: {}, agents: {}, convos: {}, files: {}, schedules: {} }
    : JSON.parse(fs.readFileSync(args.context, 'utf8'));
  await mongoose.connect(args.uri, { dbName: args.db, serverSelectionTimeoutMS: 10_000 });
  try {
    const models = createModels(mongoose);
    // Every collection and index, as LibreChat builds them at start-up.
    await Promise.all(Object.values(models).map((model) => model.init()));
    const methods = createMethods(mongoose, { findMatchingPattern, matchModelName });
    const record = newRecord(args.phase);
    await PHASES[args.phase](new Writer(methods, ctx, record));
    record.finished_ms = Date.now();
    fs.writeFileSync(args.context, JSON.stringify(ctx, null, 1));
    process.stdout.write(`${JSON.stringify(record)}\n`);
  } finally {
    await mongoose.disconnect();
  }
}

main().catch((err) => {
  process.stderr.write(`librechat_writer: ${err?.stack ?? err}\n`);
  process.exit(1);
});
